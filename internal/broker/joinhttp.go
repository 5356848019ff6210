package broker

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/longboat/longboat/internal/cluster"
)

// join is POST /v1/join: a broker started with --join asks to be added to
// __meta (cluster.AdmitBroker). 409 is a refusal that asking again will
// not change; 503 a cluster that cannot answer now.
func (b *Broker) join(w http.ResponseWriter, r *http.Request) {
	var req cluster.JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "join: "+err.Error(), http.StatusBadRequest)
		return
	}
	a, err := b.Node.AdmitBroker(r.Context(), req)
	var refused *cluster.ErrJoinRefused
	switch {
	case errors.As(err, &refused):
		b.log.Warn().Uint64("node_id", req.NodeID).Str("raft_addr", req.RaftAddr).Str("reason", refused.Reason).Msg("join refused")
		http.Error(w, refused.Reason, http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	b.log.Info().Uint64("node_id", req.NodeID).Str("raft_addr", req.RaftAddr).Str("incarnation", req.Incarnation).Msg("broker admitted to __meta as a non-voting member")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}
