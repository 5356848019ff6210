package broker

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/metrics"
)

func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		b := &Broker{cfg: &config.Config{DebugPprof: on}, Metrics: metrics.New("test")}
		srv := httptest.NewServer(b.routes())
		resp, err := http.Get(srv.URL + "/debug/pprof/")
		if err != nil {
			srv.Close()
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("--debug-pprof=%v: /debug/pprof/ answered %d, want %d", on, resp.StatusCode, want)
		}
	}
}
