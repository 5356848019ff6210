// Optional auto-refresh: the choice is kept per browser in localStorage,
// and the page simply reloads (it is rendered on the server).
(function () {
  var box = document.getElementById("autorefresh");
  if (!box) { return; }
  var key = "longboat.autorefresh";
  var timer = null;
  function apply() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (box.checked) { timer = setTimeout(function () { location.reload(); }, 5000); }
  }
  try { box.checked = localStorage.getItem(key) === "1"; } catch (e) { /* storage disabled */ }
  box.addEventListener("change", function () {
    try { localStorage.setItem(key, box.checked ? "1" : "0"); } catch (e) { /* storage disabled */ }
    apply();
  });
  apply();
})();
