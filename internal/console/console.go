// Package console is the broker's read-only web console at /ui: server-
// rendered pages (html/template, embedded, no build step) about the whole
// cluster. It reads the cluster through this broker's own Kafka listener
// with the same admin calls as the CLI, so its numbers are the CLI's, and
// reads from the broker itself only what the Kafka protocol does not say
// cheaply: the __meta leader's health, readiness, counters and log sizes.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Local is what the console asks of the broker serving it.
type Local interface {
	// NodeID is this broker's id.
	NodeID() int32
	// Ready is this broker's /readyz verdict.
	Ready() bool
	// DownBrokers are the brokers this one's peer prober finds unreachable.
	DownBrokers() map[uint64]bool
	// Counters are this broker's cumulative traffic counters.
	Counters() Counters
	// Offsets are the log start and end offsets of a partition replica on
	// this broker; false when the replica is not hosted here.
	Offsets(topic string, partition int32) (start, end int64, ok bool)
	// LogSize is the bytes of a partition replica's log on this broker;
	// false when the replica is not hosted here.
	LogSize(topic string, partition int32) (int64, bool)
}

// Counters are cumulative totals since the broker started.
type Counters struct {
	BytesIn, BytesOut, RecordsIn, RecordsOut float64
}

// Config is the console's setup.
type Config struct {
	// Seed is this broker's own Kafka listener address; TLS, when set, is
	// how to dial it (an SSL listener).
	Seed string
	TLS  *tls.Config
	// GrafanaURL, when set, is linked from every page.
	GrafanaURL string
	// SampleEvery is how often throughput and group lag are sampled for the
	// charts; History is how many samples are kept.
	SampleEvery time.Duration
	History     int
	Local       Local
	Log         zerolog.Logger
}

// Console serves /ui.
type Console struct {
	cfg     Config
	cl      *kgo.Client
	adm     *kadm.Client
	pages   map[string]*template.Template
	samples *ring
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// requestTimeout bounds one page's Kafka calls: a page that cannot answer
// says so instead of hanging the browser.
const requestTimeout = 5 * time.Second

// New starts the console's Kafka client and its sampler.
func New(cfg Config) (*Console, error) {
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 60
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Seed), kgo.DialTLSConfig(cfg.TLS), kgo.RetryTimeout(requestTimeout),
		kgo.ClientID("longboat-console"))
	if err != nil {
		return nil, fmt.Errorf("console Kafka client for %s: %w", cfg.Seed, err)
	}
	pages, err := parsePages()
	if err != nil {
		cl.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{cfg: cfg, cl: cl, adm: kadm.NewClient(cl), pages: pages, samples: newRing(cfg.History), stop: cancel}
	c.done.Add(1)
	go c.sample(ctx)
	return c, nil
}

// Close stops the sampler and the Kafka client.
func (c *Console) Close() {
	c.stop()
	c.done.Wait()
	c.cl.Close()
}

// Handler serves the console's pages under prefix (e.g. "/ui").
func (c *Console) Handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+prefix+"/static/", http.StripPrefix(prefix+"/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+prefix+"/{$}", c.page("overview", c.overview))
	mux.HandleFunc("GET "+prefix+"/topics", c.page("topics", c.topics))
	mux.HandleFunc("GET "+prefix+"/topics/{topic}", c.page("topic", c.topic))
	mux.HandleFunc("GET "+prefix+"/topics/{topic}/records", c.page("records", c.records))
	mux.HandleFunc("GET "+prefix+"/groups", c.page("groups", c.groups))
	mux.HandleFunc("GET "+prefix+"/groups/{group}", c.page("group", c.group))
	mux.Handle("GET "+prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
	return securityHeaders(mux)
}

// securityHeaders forbid everything the pages do not use: no frames, no
// scripts or styles but the console's own files, no external requests.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// view is what every page template gets: the page's own data and the
// frame around it.
type view struct {
	Title      string
	Nav        string
	NodeID     int32
	GrafanaURL string
	Elapsed    time.Duration
	Data       any
}

// page renders the template name with what load returns; load's error is
// shown on the page with the status it carries.
func (c *Console) page(name string, load func(ctx context.Context, r *http.Request) (string, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		title, data, err := load(ctx, r)
		v := view{Title: title, Nav: name, NodeID: c.cfg.Local.NodeID(), GrafanaURL: c.cfg.GrafanaURL, Data: data}
		tmpl := c.pages[name]
		status := http.StatusOK
		if err != nil {
			status = statusOf(err)
			c.cfg.Log.Debug().Err(err).Str("page", name).Str("path", r.URL.Path).Msg("console page failed")
			tmpl, v.Title, v.Data = c.pages["error"], "Error", err.Error()
		}
		v.Elapsed = time.Since(start).Round(time.Millisecond)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		if err := tmpl.ExecuteTemplate(w, "layout", v); err != nil {
			c.cfg.Log.Warn().Err(err).Str("page", name).Msg("console template")
		}
	}
}

// httpError is an error a page shows with a status other than 500.
type httpError struct {
	status int
	msg    string
}

func (e httpError) Error() string { return e.msg }

func notFound(format string, a ...any) error {
	return httpError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error {
	return httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func statusOf(err error) int {
	if he, ok := err.(httpError); ok {
		return he.status
	}
	return http.StatusBadGateway
}
