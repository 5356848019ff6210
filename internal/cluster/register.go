package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/meta"
)

// leaderFinder tells who leads a shard.
type leaderFinder interface {
	leader(shardID uint64) (leader uint64, term uint64, ok bool)
}

// registration records this broker's addresses in __meta.
type registration struct {
	self    *meta.Broker
	meta    metaState
	leaders leaderFinder
	propose proposeMetaFunc
	log     zerolog.Logger
}

// registeredBroker is the __meta record of this broker.
func registeredBroker(cfg *config.Config) *meta.Broker {
	eps := make([]meta.Endpoint, 0, len(cfg.AdvertisedListeners))
	for _, l := range cfg.AdvertisedListeners {
		eps = append(eps, meta.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	return &meta.Broker{ID: cfg.NodeID, RaftAddr: cfg.RaftAddr, HTTPAddr: cfg.HTTPAddr, Endpoints: eps}
}

// run proposes the registration until __meta holds it.
func (r registration) run(ctx context.Context) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	cmd := meta.Command{RegisterBroker: r.self, ClusterID: hex.EncodeToString(id[:])}
	for {
		if cur, ok := r.meta.State().Brokers[r.self.ID]; ok && sameBroker(cur, r.self) {
			return
		}
		// Proposals before the first election are only dropped (and logged).
		if _, _, ok := r.leaders.leader(meta.ShardID); !ok {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := r.propose(pctx, cmd)
		cancel()
		if err == nil {
			r.log.Info().Uint64("node_id", r.self.ID).Msg("broker registered in __meta")
			return
		}
		r.log.Debug().Err(err).Msg("register broker: retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sameBroker(a, b *meta.Broker) bool {
	if a.RaftAddr != b.RaftAddr || a.HTTPAddr != b.HTTPAddr || len(a.Endpoints) != len(b.Endpoints) {
		return false
	}
	for i := range a.Endpoints {
		if a.Endpoints[i] != b.Endpoints[i] {
			return false
		}
	}
	return true
}
