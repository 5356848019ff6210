package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/version"
)

func (b *Broker) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		if b.stopping.Load() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", b.readyz)
	mux.HandleFunc("/v1/status", b.status)
	mux.HandleFunc("/v1/identity", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b.Node.IdentityReport(r.Context()))
	})
	mux.HandleFunc("/v1/replicas", b.Node.ServeReplicas)
	mux.HandleFunc("GET "+cluster.MetaQuorumPath, b.Node.ServeMetaQuorum)
	mux.HandleFunc("POST /v1/join", b.join)
	mux.HandleFunc("POST /v1/brokers/{id}/drain", b.brokerAction(func(ctx context.Context, id uint64) error { return b.Node.SetDraining(ctx, id, true) }, "broker marked draining"))
	mux.HandleFunc("DELETE /v1/brokers/{id}/drain", b.brokerAction(func(ctx context.Context, id uint64) error { return b.Node.SetDraining(ctx, id, false) }, "broker no longer draining"))
	mux.HandleFunc("DELETE /v1/brokers/{id}", b.brokerAction(func(ctx context.Context, id uint64) error { return b.Node.RemoveBroker(ctx, id) }, "broker removed from the cluster"))
	mux.HandleFunc("GET /v1/partitions/{shard}/log-position", b.logPosition)
	mux.HandleFunc("GET /v1/groups/{group}/coordinator", b.groupCoordinator)
	if b.cfg.DebugLeaderTransfer {
		mux.HandleFunc("POST /v1/groups/{group}/transfer-leader", b.transferGroupLeader)
	}
	if b.console != nil { // nil only in tests of the routes alone
		ui := b.console.Handler("/ui")
		mux.Handle("/ui", ui)
		mux.Handle("/ui/", ui)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(b.Metrics.Registry, promhttp.HandlerOpts{Registry: b.Metrics.Registry}))
	// Profiles reveal memory contents and cost CPU on demand, so they are
	// opt-in rather than served to whoever can scrape metrics.
	if b.cfg.DebugPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readyz answers 200 only when __meta has a leader this replica has caught
// up with, this broker is registered, and every replica it hosts is started
// and has a leader. ?verbose lists each check.
func (b *Broker) readyz(w http.ResponseWriter, r *http.Request) {
	rd := b.Node.CheckReadiness(time.Second)
	status := http.StatusOK
	if !rd.Ready() || b.stopping.Load() {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if _, verbose := r.URL.Query()["verbose"]; !verbose {
		fmt.Fprintln(w, http.StatusText(status))
		return
	}
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	fmt.Fprintf(w, "[%s] meta-leader\n", mark(rd.MetaLeader))
	fmt.Fprintf(w, "[%s] meta-caught-up\n", mark(rd.MetaCaughtUp))
	fmt.Fprintf(w, "[%s] broker-registered\n", mark(rd.Registered))
	fmt.Fprintf(w, "[%s] replicas-started %d/%d\n", mark(rd.ReplicasReady == rd.ReplicasTotal), rd.ReplicasReady, rd.ReplicasTotal)
	fmt.Fprintf(w, "[%s] replicas-with-leader %d/%d\n", mark(rd.ReplicasLeader == rd.ReplicasTotal), rd.ReplicasLeader, rd.ReplicasTotal)
	fmt.Fprintln(w, "[ok] kafka-listeners")
	fmt.Fprintf(w, "[info] under-replicated-partitions %d (led here with an ISR smaller than the replica set; does not fail readiness)\n", rd.UnderReplicated)
	fmt.Fprintln(w, http.StatusText(status))
}

// logPosition answers where a hosted replica's durable log ends, for a
// leader about to stream it a snapshot (see cluster.LogPositionPath).
func (b *Broker) logPosition(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.ParseUint(r.PathValue("shard"), 10, 64)
	if err != nil {
		http.Error(w, "bad shard id", http.StatusBadRequest)
		return
	}
	p, ok := b.Node.Partition(shard)
	if !ok {
		http.Error(w, "shard not hosted", http.StatusNotFound)
		return
	}
	pos, err := p.Position()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(pos)
}

// statusDoc is /v1/status: who this broker is and what it holds.
type statusDoc struct {
	NodeID           uint64            `json:"node_id"`
	Version          string            `json:"version"`
	ClusterID        string            `json:"cluster_id"`
	MetaLeader       uint64            `json:"meta_leader"`
	Ready            bool              `json:"ready"`
	PartitionsHosted int               `json:"partitions_hosted"`
	PartitionsLed    int               `json:"partitions_led"`
	Listeners        map[string]string `json:"listeners"`
	Advertised       map[string]string `json:"advertised_listeners"`
	RaftAddr         string            `json:"raft_addr"`
	// MetaVoters and MetaNonVoting are __meta's membership: the initial
	// members vote, brokers that joined follow (absent when unreadable).
	MetaVoters    []uint64 `json:"meta_voters,omitempty"`
	MetaNonVoting []uint64 `json:"meta_non_voting,omitempty"`
	// MetaVotersWanted is --meta-voters: how many voters __meta keeps
	// (remove-broker refuses a voter no broker can replace).
	MetaVotersWanted int `json:"meta_voters_wanted"`
	// Draining are the brokers marked draining in __meta.
	Draining []uint64 `json:"draining"`
}

func (b *Broker) status(w http.ResponseWriter, r *http.Request) {
	st := b.Node.Meta()
	doc := statusDoc{NodeID: b.cfg.NodeID, Version: version.Version, ClusterID: st.ClusterID, RaftAddr: b.cfg.RaftAddr,
		Listeners: map[string]string{}, Advertised: map[string]string{}, Draining: st.Draining, MetaVotersWanted: b.cfg.MetaVoters}
	if doc.Draining == nil {
		doc.Draining = []uint64{}
	}
	doc.MetaLeader, _, _ = b.Node.Leader(meta.ShardID)
	doc.Ready = b.Node.CheckReadiness(500 * time.Millisecond).Ready()
	mctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	if m, err := b.Node.MetaMembership(mctx); err == nil {
		doc.MetaVoters, doc.MetaNonVoting = m.Voters, m.NonVoting
	}
	cancel()
	for _, shard := range b.Node.HostedShards() {
		doc.PartitionsHosted++
		if _, leader := b.Node.IsLeader(shard); leader {
			doc.PartitionsLed++
		}
	}
	for _, l := range b.cfg.Listeners {
		doc.Listeners[l.Name] = l.Addr()
	}
	for _, l := range b.cfg.AdvertisedListeners {
		doc.Advertised[l.Name] = l.Addr()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}
