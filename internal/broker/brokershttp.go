package broker

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/longboat/longboat/internal/cluster"
)

// brokerAction serves the membership changes of `longboat cluster
// remove-broker` on the HTTP port, as POST /v1/join does:
//
//	POST   /v1/brokers/{id}/drain  mark broker id draining
//	DELETE /v1/brokers/{id}/drain  take the mark back
//	DELETE /v1/brokers/{id}        remove broker id, which holds no replica
//
// 409 is a refusal to retry only after a change (a voter, replicas left),
// 503 a failure worth retrying.
func (b *Broker) brokerAction(do func(ctx context.Context, id uint64) error, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil || id == 0 {
			http.Error(w, "bad broker id", http.StatusBadRequest)
			return
		}
		err = do(r.Context(), id)
		var refused *cluster.ErrBrokerRefused
		switch {
		case errors.As(err, &refused):
			b.log.Warn().Uint64("broker", id).Str("reason", refused.Reason).Msg("broker membership change refused")
			http.Error(w, refused.Reason, http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			b.log.Info().Uint64("broker", id).Msg(what)
			w.WriteHeader(http.StatusNoContent)
		}
	}
}
