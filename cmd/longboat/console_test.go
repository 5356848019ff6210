package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testGrafanaURL is what the shared cluster's brokers link to; the URL has
// a query so the test sees it escaped in the page.
const testGrafanaURL = "http://grafana.test:3000/d/longboat?orgId=1&refresh=5s"

// chromium finds Debian's headless browser. On CI (CI or
// LONGBOAT_REQUIRE_CHROMIUM set) a missing browser fails the test: the
// console's browser tests must not silently drop out there.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("LONGBOAT_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not on PATH (apt-get install chromium); CI or LONGBOAT_REQUIRE_CHROMIUM is set, so the console's browser test may not skip")
	}
	t.Skip("chromium is not on PATH: install Debian's chromium to run the console's browser test")
	return ""
}

// browser runs headless Chromium on URLs of one broker's console.
type browser struct {
	t         *testing.T
	bin       string
	profile   string
	artifacts string
}

func (b *browser) run(args ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + b.profile, "--window-size=1280,900"}
	cmd := exec.CommandContext(ctx, b.bin, append(base, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("chromium %v: %v\nstderr: %s", args, err, errb.String())
	}
	return out.String()
}

// page is the page at url as the browser built it (after its script
// ran); with a name, the same run saves a screenshot as name.png among the
// artifacts (one browser start per page: each costs seconds on a busy CI).
func (b *browser) page(url, name string) string {
	b.t.Helper()
	args := []string{"--dump-dom"}
	path := ""
	if name != "" {
		path = filepath.Join(b.artifacts, name+".png")
		args = append(args, "--screenshot="+path)
	}
	d := b.run(append(args, url)...)
	if !strings.Contains(d, "</html>") || !strings.Contains(d, "Longboat") {
		b.t.Fatalf("%s: no console page in the browser's DOM:\n%s", url, d)
	}
	if path != "" {
		if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
			b.t.Fatalf("screenshot of %s: %v", url, err)
		}
	}
	return d
}

// cell is the text of the element with class class in the row whose
// data-attr is key.
func cell(t *testing.T, dom, attr, key, class string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr data-` + attr + `="` + regexp.QuoteMeta(key) + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(dom)
	if row == nil {
		t.Fatalf("no row data-%s=%q in the page", attr, key)
	}
	m := regexp.MustCompile(`(?s)<td class="` + class + `[^"]*">(.*?)</td>`).FindStringSubmatch(row[1])
	if m == nil {
		t.Fatalf("row data-%s=%q has no %s cell: %s", attr, key, class, row[1])
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))
}

// byID is the text of the element with id id.
func byID(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)id="` + id + `"[^>]*>(.*?)</`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no element #%s in the page", id)
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

func ids(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// lbJSONSettled is lbJSON retried until the command succeeds and ok
// accepts its answer: on a loaded machine an admin call can meet a
// coordinator or leader that is still settling (the CLI then exits 1 or
// reports -1 for an offset it could not list), which is not what this test
// compares.
func lbJSONSettled(t *testing.T, v any, ok func() bool, args ...string) {
	t.Helper()
	args = append(args, "--output", "json")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errs, code := lb(t, "", args...)
		if code == 0 {
			reflect.ValueOf(v).Elem().SetZero()
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("longboat %s: %v in %q", strings.Join(args, " "), err, out)
			}
			if ok() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("longboat %s: no settled answer in 20 s; last: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestConsoleInBrowser loads the web console's pages in headless Chromium
// and checks that they show what the CLI prints for the same cluster, that
// record contents are escaped, and keeps a screenshot of each page.
func TestConsoleInBrowser(t *testing.T) {
	bin := chromium(t)
	c := shared.Get(t)
	bs := strings.Join(c.Addrs(), ",")
	b := &browser{t: t, bin: bin, profile: t.TempDir(), artifacts: t.TempDir()}
	if dir := os.Getenv("LONGBOAT_ARTIFACTS"); dir != "" {
		b.artifacts = filepath.Join(dir, "console")
		if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("console screenshots in %s", b.artifacts)
	ui := "http://" + c.HTTPAddr(0) + "/ui"

	const topic, group = "ui-topic", "ui-group"
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", topic, "--partitions", "3", "--config", "retention.ms=3600000")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := []*kgo.Record{
		{Partition: 0, Key: []byte("plain-key"), Value: []byte("hello console"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc123")}}},
		{Partition: 0, Key: []byte("binary"), Value: []byte{0x00, 0xff, 0x10, 0x80}},
		{Partition: 0, Value: []byte(`<script>alert("x")</script>`)},
	}
	for i := range 5 {
		recs = append(recs, &kgo.Record{Partition: 1, Value: []byte(fmt.Sprintf("p1-%d", i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: topic, Partition: 1, At: 2, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, group, commit); err != nil {
		t.Fatalf("commit %s: %v", group, err)
	}

	t.Run("overview", func(t *testing.T) {
		var doc clusterDoc
		lbJSONSettled(t, &doc, func() bool { return doc.Partitions > 0 }, "cluster", "status", "--bootstrap-server", bs, "--http", "")
		d := b.page(ui+"/", "overview")
		if got := byID(t, d, "partitions"); got != strconv.Itoa(doc.Partitions) {
			t.Errorf("overview partitions %s, cluster status %d", got, doc.Partitions)
		}
		if got, want := byID(t, d, "meta-leader"), fmt.Sprintf("broker %d", doc.MetaLeader); got != want {
			t.Errorf("overview __meta leader %q, cluster status %q", got, want)
		}
		for _, br := range doc.Brokers {
			if got := cell(t, d, "broker", strconv.Itoa(int(br.ID)), "replicas"); got != strconv.Itoa(br.Replicas) {
				t.Errorf("broker %d replicas %s, cluster status %d", br.ID, got, br.Replicas)
			}
		}
		if r := byID(t, d, "ready"); r != "ready" && r != "not ready" {
			t.Errorf("overview: this broker's readiness shown as %q", r)
		}
		if !strings.Contains(d, `href="`+html.EscapeString(testGrafanaURL)+`"`) {
			t.Errorf("overview: no link to --grafana-url %s", testGrafanaURL)
		}
	})

	t.Run("topics", func(t *testing.T) {
		var list []topicSummary
		lbJSONSettled(t, &list, func() bool { return containsTopic(list, topic, 3) }, "topics", "list", "--bootstrap-server", bs)
		d := b.page(ui+"/topics", "topics")
		for _, ts := range list {
			if got := cell(t, d, "topic", ts.Topic, "partitions"); got != strconv.Itoa(ts.Partitions) {
				t.Errorf("topics page: %s has %s partitions, topics list %d", ts.Topic, got, ts.Partitions)
			}
		}
		if got := cell(t, d, "topic", topic, "records"); got != "8" {
			t.Errorf("topics page: %s holds %s records, want 8", topic, got)
		}
	})

	t.Run("topic", func(t *testing.T) {
		var doc struct {
			Partitions []partitionRow `json:"partitions"`
			Configs    []configRow    `json:"configs"`
		}
		lbJSONSettled(t, &doc, func() bool {
			for _, p := range doc.Partitions {
				if p.LogStart < 0 || p.LogEnd < 0 || p.Error != "" {
					return false
				}
			}
			return len(doc.Partitions) == 3
		}, "topics", "describe", "--bootstrap-server", bs, "--topic", topic)
		d := b.page(ui+"/topics/"+topic, "topic")
		for _, p := range doc.Partitions {
			key := strconv.Itoa(int(p.Partition))
			for class, want := range map[string]string{"leader": strconv.Itoa(int(p.Leader)), "replicas": ids(p.Replicas),
				"isr": ids(p.ISR), "log-start": strconv.FormatInt(p.LogStart, 10), "log-end": strconv.FormatInt(p.LogEnd, 10)} {
				if got := cell(t, d, "partition", key, class); got != want {
					t.Errorf("partition %s %s: page %q, topics describe %q", key, class, got, want)
				}
			}
		}
		if got := cell(t, d, "config", "retention.ms", "value"); got != "3600000" {
			t.Errorf("retention.ms on the page %q, set 3600000", got)
		}
	})

	t.Run("records", func(t *testing.T) {
		url := ui + "/topics/" + topic + "/records?partition=0"
		d := b.page(url, "records")
		for _, want := range []string{"hello console", "plain-key", "abc123", "00ff1080", `&lt;script&gt;alert("x")&lt;/script&gt;`} {
			if !strings.Contains(d, want) {
				t.Errorf("records page: no %q", want)
			}
		}
		if strings.Contains(d, `<script>alert`) {
			t.Errorf("records page: a record's value became markup")
		}
		// Paged by offset: one record from offset 1 is the binary one only.
		d = b.page(ui+"/topics/"+topic+"/records?partition=0&offset=1&limit=1", "")
		if !strings.Contains(d, "00ff1080") || strings.Contains(d, "hello console") || !strings.Contains(d, `id="prev"`) || !strings.Contains(d, `id="next"`) {
			t.Errorf("records page from offset 1, limit 1: want only the binary record and links both ways")
		}
	})

	t.Run("groups", func(t *testing.T) {
		var doc groupDoc
		lbJSONSettled(t, &doc, func() bool { return doc.TotalLag == 5 }, "groups", "describe", "--bootstrap-server", bs, "--group", group)
		d := b.page(ui+"/groups", "groups")
		if got := cell(t, d, "group", group, "total-lag"); got != strconv.FormatInt(doc.TotalLag, 10) {
			t.Errorf("groups page: total lag %s, groups describe %d", got, doc.TotalLag)
		}
		d = b.page(ui+"/groups/"+group, "group")
		if got := byID(t, d, "total-lag"); got != strconv.FormatInt(doc.TotalLag, 10) {
			t.Errorf("group page: total lag %s, groups describe %d", got, doc.TotalLag)
		}
		for _, o := range doc.Offsets {
			key := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
			if got := cell(t, d, "tp", key, "lag"); got != strconv.FormatInt(o.Lag, 10) {
				t.Errorf("group page: lag of %s %s, groups describe %d", key, got, o.Lag)
			}
			if got := cell(t, d, "tp", key, "committed"); got != strconv.FormatInt(o.Committed, 10) {
				t.Errorf("group page: committed of %s %s, groups describe %d", key, got, o.Committed)
			}
		}
		if !regexp.MustCompile(`<svg id="lag-chart"[^>]*>`).MatchString(d) || !strings.Contains(d, "<polyline points=") {
			t.Errorf("group page: no lag chart")
		}
	})
}
