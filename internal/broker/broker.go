// Package broker assembles one Longboat broker process: the Raft node, the
// Kafka listeners and the HTTP endpoints, started and stopped in order.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/console"
	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/tlscert"
	"github.com/longboat/longboat/internal/txn"
	"github.com/longboat/longboat/internal/version"
)

// Broker is a running broker.
type Broker struct {
	cfg     *config.Config
	log     zerolog.Logger
	Metrics *metrics.Metrics
	Node    *cluster.Node
	Groups  *group.Coordinator
	Txns    *txn.Coordinator
	markers *txn.Wire
	Kafka   *kafka.Server
	// TLS holds the SSL listeners' certificates; nil without one.
	TLS     *tlscert.Store
	console *console.Console
	http    *http.Server
	httpL   net.Listener
	// stopping makes /livez and /readyz answer 503 during a graceful stop,
	// so peers stop handing leadership back to this broker.
	stopping atomic.Bool
}

// Start brings up Raft first (so that readiness can be judged), then the
// Kafka listeners, then HTTP. It never waits for other brokers.
func Start(cfg *config.Config, log zerolog.Logger) (*Broker, error) {
	b := &Broker{cfg: cfg, log: log, Metrics: metrics.New(version.Version)}
	// Certificates first: a bad key or certificate stops the start before
	// Raft joins anything.
	needTLS := cfg.HTTPTLS
	for _, l := range cfg.Listeners {
		needTLS = needTLS || config.UsesTLS(l.Protocol)
	}
	if needTLS {
		certs, err := tlscert.Load(cfg.TLS, log)
		if err != nil {
			return nil, err
		}
		b.TLS = certs
	}
	if err := checkOwnPrincipal(cfg, b.TLS); err != nil {
		return nil, err
	}
	var web cluster.HTTPTLS
	if cfg.HTTPTLS {
		web = cluster.HTTPTLS{Server: b.httpServerTLS(), Client: b.TLS.ClientConfig()}
	}
	node, err := cluster.Start(cfg, web, b.Metrics, log)
	if err != nil {
		return nil, err
	}
	b.Node = node
	b.Groups = group.NewCoordinator(group.Config{
		InitialRebalanceDelay:     cfg.GroupInitialRebalance,
		MaxSize:                   cfg.GroupMaxSize,
		OffsetMetadataMaxBytes:    cfg.OffsetMetadataMaxBytes,
		OffsetsRetention:          cfg.OffsetsRetention,
		RetentionCheckInterval:    cfg.OffsetsRetentionCheck,
		ConsumerHeartbeatInterval: cfg.GroupConsumerHeartbeat,
		ConsumerSessionTimeout:    cfg.GroupConsumerSession,
		MigrationPolicy:           cfg.GroupConsumerMigration,
		GroupConfigs:              func(g string) map[string]string { return node.Meta().GroupConfigs[g] },
	}, node, log)
	internal := cfg.InternalListener()
	var internalTLS *tls.Config
	if config.UsesTLS(internal.Protocol) {
		internalTLS = b.TLS.ClientConfig()
	}
	b.markers = txn.NewWire(node.Meta, internal.Name, internalTLS)
	b.Txns = txn.New(txn.Config{MaxTimeout: cfg.TransactionMaxTimeout, AbortInterval: cfg.TransactionAbortInterval,
		IDExpiration: cfg.TransactionalIDExpiration}, node, b.markers, log)
	b.Kafka = kafka.New(cfg, node, b.Groups, b.Metrics, log)
	b.Kafka.SetTransactions(b.Txns)
	if b.TLS != nil {
		b.Kafka.UseTLS(b.TLS)
	}
	b.Metrics.RegisterState(b)
	if err := b.Kafka.Listen(); err != nil {
		b.Txns.Close()
		b.markers.Close()
		b.Groups.Close()
		node.Close()
		return nil, err
	}
	b.console, err = console.New(console.Config{Seed: consoleSeed(internal), TLS: internalTLS, GrafanaURL: cfg.GrafanaURL,
		Local: consoleLocal{b}, Log: log.With().Str("component", "console").Logger()})
	if err != nil {
		b.Kafka.Close()
		b.Groups.Close()
		node.Close()
		return nil, err
	}
	b.httpL, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		b.console.Close()
		b.Kafka.Close()
		b.Txns.Close()
		b.markers.Close()
		b.Groups.Close()
		node.Close()
		return nil, fmt.Errorf("HTTP listener on %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.HTTPTLS {
		b.httpL = tls.NewListener(b.httpL, b.httpServerTLS())
	}
	b.http = &http.Server{Handler: b.guard(b.routes()), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: stdlog.New(httpErrorLog{log}, "", 0)}
	go func() {
		if err := b.http.Serve(b.httpL); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	log.Info().Uint64("node_id", cfg.NodeID).Str("raft", cfg.RaftAddr).Str("http", b.httpL.Addr().String()).Bool("http_tls", cfg.HTTPTLS).Msg("broker started")
	return b, nil
}

// httpServerTLS is the HTTP port's TLS with --http-tls: client
// certificates are verified when sent (guard requires one for the cluster
// endpoints) but not required, so that probes and scrapes need none.
func (b *Broker) httpServerTLS() *tls.Config {
	return b.TLS.ServerConfig(config.TLSClientAuthRequested)
}

// httpErrorLog routes net/http's own messages (failed TLS handshakes of
// plain-HTTP clients and of clients with a foreign certificate) to the
// broker's log at debug level, where a scan of the port does not flood it.
type httpErrorLog struct{ log zerolog.Logger }

func (l httpErrorLog) Write(p []byte) (int, error) {
	l.log.Debug().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ReloadTLS rereads the TLS files (on SIGHUP); new connections get the new
// certificate, open ones keep theirs, and a bad file leaves the old one.
func (b *Broker) ReloadTLS() error {
	if b.TLS == nil {
		return nil
	}
	return b.TLS.Reload()
}

// Close hands off leadership, then stops Kafka, Raft and HTTP in that order.
func (b *Broker) Close() {
	b.stopping.Store(true)
	b.Node.HandOffLeadership(b.cfg.ShutdownTimeout / 2)
	// The console is a client of this broker's own listener.
	b.console.Close()
	b.Kafka.Close()
	// HTTP goes before the node: its handlers (/readyz, /metrics, /v1/status)
	// read the NodeHost, which Node.Close closes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.http.Shutdown(ctx)
	b.Txns.Close()
	b.markers.Close()
	b.Groups.Close()
	b.Node.Close()
	b.log.Info().Uint64("node_id", b.cfg.NodeID).Msg("broker stopped")
}

// MetricsState is the scrape-time state: the cluster node's view plus this
// broker's connections and readiness.
func (b *Broker) MetricsState() metrics.State {
	st := b.Node.MetricsState()
	st.Connections = b.Kafka.ConnectionCounts()
	st.Ready = b.Node.CheckReadiness(500 * time.Millisecond).Ready()
	for _, c := range b.Groups.Committed(b.Node.GroupShardIDs()) {
		p, ok := b.Node.PartitionByName(c.Topic, c.Partition)
		if !ok || c.Committed < 0 {
			continue
		}
		st.GroupLags = append(st.GroupLags, metrics.GroupLag{Group: c.Group, Topic: c.Topic, Partition: c.Partition,
			Lag: max(0, p.HighWatermark()-c.Committed)})
	}
	return st
}
