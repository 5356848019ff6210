// Package observability checks the metrics, alerts and dashboard against a
// live cluster scraped by a real Prometheus: every dashboard expression must
// return data and every alert expression must parse over metrics that exist.
package observability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

const repo = "../.."

// shared is the cluster both metric tests read, each under its own load.
// Its brokers allow 4 KiB segments and run the log cleaner every 200 ms,
// so that a compacted topic gets cleaned while the test looks.
var shared = testcluster.Shared{Options: testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
	cfg.MinSegmentBytes = 4096
	cfg.CleanerBackoff = 200 * time.Millisecond
}}}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// requireTool finds a binary; CI sets LONGBOAT_REQUIRE_PROMETHEUS so that a
// missing install fails instead of skipping.
func requireTool(t *testing.T, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LONGBOAT_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("%s not installed (apt-get install prometheus)", name)
		}
		t.Skipf("%s not installed (apt-get install prometheus)", name)
	}
	return path
}

func TestPromtoolChecksRepoConfig(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", "--syntax-only", filepath.Join(repo, "prometheus/prometheus.yml")},
		{"check", "rules", filepath.Join(repo, "prometheus/rules/longboat.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

func TestMetricNamesLint(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	load(t, c.Addrs(), "obs-lint")
	resp, err := http.Get("http://" + c.HTTPAddr(0) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// loadCompacted creates a compacted topic with 4 KiB segments and writes
// many versions of a few keys, so that the cleaner metrics have series.
func loadCompacted(t *testing.T, seeds []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	configs := map[string]*string{"cleanup.policy": ptr("compact"), "segment.bytes": ptr("4096")}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, configs, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	// One batch of 20 records (~2.4 KB) per request: a segment of 4 KiB
	// holds one or two, so most are sealed and cleanable.
	for i := 0; i < 400; i += 20 {
		var rs []*kgo.Record
		for j := i; j < i+20; j++ {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", j%10), Value: fmt.Appendf(nil, "%d;%0100d", j, 0)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr(s string) *string { return &s }

// load creates topic, produces and consumes a little through a consumer
// group (topic+"-group") that commits, so every counter, histogram and lag
// gauge has series.
func load(t *testing.T, seeds []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(topic+"-group"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, -1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 300 && ctx.Err() == nil {
		got += cl.PollFetches(ctx).NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// alertRule is one alert of prometheus/rules; each has a one-line expr
// (promtool has already checked the file's structure).
type alertRule struct{ name, expr string }

func readAlerts(t *testing.T, path string) []alertRule {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	alertRE := regexp.MustCompile(`^\s*- alert:\s*(\S+)`)
	exprRE := regexp.MustCompile(`^\s*expr:\s*(.+)$`)
	for _, line := range strings.Split(string(raw), "\n") {
		if m := alertRE.FindStringSubmatch(line); m != nil {
			out = append(out, alertRule{name: m[1]})
		} else if m := exprRE.FindStringSubmatch(line); m != nil && len(out) > 0 {
			out[len(out)-1].expr = m[1]
		}
	}
	return out
}

// TestDashboardAndAlertsReturnData runs Prometheus against a live
// three-broker cluster under a little load and evaluates every expression.
func TestDashboardAndAlertsReturnData(t *testing.T) {
	promBin := requireTool(t, "prometheus")
	t.Parallel()
	c := shared.Get(t)
	load(t, c.Addrs(), "obs")
	loadCompacted(t, c.Addrs(), "obs-compacted")

	dir := t.TempDir()
	var targets []string
	for i := range c.Brokers {
		targets = append(targets, fmt.Sprintf("%q", c.HTTPAddr(i)))
	}
	rules, err := filepath.Abs(filepath.Join(repo, "prometheus/rules/longboat.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: longboat
    static_configs:
      - targets: [%s]
`, rules, strings.Join(targets, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testcluster.FreeAddrs(t, 1)[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prom := exec.CommandContext(ctx, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = logf, logf
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = prom.Wait() }()

	base := "http://" + addr
	testutil.Eventually(t, 30*time.Second, func() error {
		r, err := query(base, `sum(up{job="longboat"})`)
		if err != nil || len(r) != 1 || r[0].Value[1] != "3" {
			return fmt.Errorf("3 targets not up: %v %v", r, err)
		}
		return nil
	})
	// Rates need two samples inside the window; keep a trickle of load and
	// wait until every target has been scraped twice since.
	load(t, c.Addrs(), "obs")
	loaded := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		r, err := query(base, `min(timestamp(up{job="longboat"}))`)
		if err != nil || len(r) != 1 {
			return fmt.Errorf("last scrape times: %v %v", r, err)
		}
		var last float64
		if s, ok := r[0].Value[1].(string); !ok {
			return fmt.Errorf("last scrape time %v", r[0].Value[1])
		} else if _, err := fmt.Sscan(s, &last); err != nil {
			return fmt.Errorf("last scrape time %q: %w", s, err)
		}
		// Scrapes are 1 s apart: a scrape after loaded+1s had one before it
		// that was also after loaded.
		if since := time.UnixMilli(int64(last * 1000)).Sub(loaded); since <= time.Second {
			return fmt.Errorf("oldest target's last scrape %v after the load, want over 1s", since)
		}
		return nil
	})

	var dash dashboard
	raw, err := os.ReadFile(filepath.Join(repo, "grafana/dashboards/longboat.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	vars := strings.NewReplacer(`"$instance"`, `".*"`, `"$topic"`, `".*"`, `"$group"`, `".*"`, "$__rate_interval", "1m")
	exprs, withData := 0, 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			r, err := query(base, vars.Replace(tg.Expr))
			switch {
			case err != nil:
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			case len(r) == 0:
				t.Errorf("panel %q: %s returned no series", p.Title, tg.Expr)
			default:
				withData++
			}
		}
	}
	for _, v := range dash.Templating.List {
		metric := regexp.MustCompile(`label_values\((\w+),`).FindStringSubmatch(v.Definition)
		if metric == nil {
			t.Errorf("variable %s: unexpected definition %q", v.Name, v.Definition)
			continue
		}
		exprs++
		if r, err := query(base, metric[1]); err != nil || len(r) == 0 {
			t.Errorf("variable %s: %s has no series (%v)", v.Name, metric[1], err)
		} else {
			withData++
		}
	}
	t.Logf("dashboard: %d expressions evaluated, %d returned data", exprs, withData)

	metricRE := regexp.MustCompile(`\b(longboat_[a-z0-9_]+|up)\b`)
	alerts, alertsOK := 0, 0
	for _, r := range readAlerts(t, rules) {
		alerts++
		if r.expr == "" {
			t.Errorf("alert %s: no one-line expr found", r.name)
			continue
		}
		if _, err := query(base, r.expr); err != nil {
			t.Errorf("alert %s: %s: %v", r.name, r.expr, err)
			continue
		}
		ok := true
		for _, m := range metricRE.FindAllString(r.expr, -1) {
			if res, err := query(base, m); err != nil || len(res) == 0 {
				t.Errorf("alert %s: metric %s has no series (%v)", r.name, m, err)
				ok = false
			}
		}
		if ok {
			alertsOK++
		}
	}
	t.Logf("alerts: %d expressions evaluated, %d parse and query metrics that have data", alerts, alertsOK)
	if alerts == 0 || exprs == 0 {
		t.Fatal("no expressions found")
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query and returns its vector result.
func query(base, expr string) ([]sample, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", body.Data.ResultType)
	}
	var out []sample
	err = json.Unmarshal(body.Data.Result, &out)
	return out, err
}
