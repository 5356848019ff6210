package broker

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/longboat/longboat/internal/cluster"
)

// coordinatorDoc is /v1/groups/<group>/coordinator: the group shard that
// coordinates a group and its Raft leader as this broker sees it.
type coordinatorDoc struct {
	Group  string `json:"group"`
	Shard  uint64 `json:"shard"`
	Leader uint64 `json:"leader"` // 0: none known
	Term   uint64 `json:"term"`
}

func (b *Broker) groupCoordinator(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	shard, ok := b.Node.GroupShardFor(group)
	if !ok {
		http.Error(w, "no group shards in the metadata yet", http.StatusServiceUnavailable)
		return
	}
	doc := coordinatorDoc{Group: group, Shard: shard}
	doc.Leader, doc.Term, _ = b.Node.Leader(shard)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// transferGroupLeader asks the group's shard to hand its leadership to
// broker ?to=; 202 once asked (the transfer happens, or not, afterwards:
// poll the coordinator endpoint). Only with --debug-leader-transfer: it is
// for fault injection, and the HTTP listener has no authentication.
func (b *Broker) transferGroupLeader(w http.ResponseWriter, r *http.Request) {
	to, err := strconv.ParseUint(r.URL.Query().Get("to"), 10, 64)
	if err != nil || to == 0 {
		http.Error(w, "?to= must be a broker id", http.StatusBadRequest)
		return
	}
	shard, ok := b.Node.GroupShardFor(r.PathValue("group"))
	if !ok {
		http.Error(w, "no group shards in the metadata yet", http.StatusServiceUnavailable)
		return
	}
	if err := b.Node.TransferLeadership(shard, to); err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, cluster.ErrNotHosted) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	b.log.Info().Uint64("shard", shard).Uint64("to", to).Str("group", r.PathValue("group")).Msg("group shard leader transfer requested over HTTP")
	w.WriteHeader(http.StatusAccepted)
}
