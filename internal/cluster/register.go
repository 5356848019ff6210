package cluster

import (
	"context"
	"maps"
	"slices"
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
	self *meta.Broker
	// bootstrapScram are the --bootstrap-scram-users, created only if this
	// registration is the one that forms the cluster.
	bootstrapScram []meta.ScramUpsert
	// identity is the data directory's; it learns the cluster id once
	// __meta has one.
	identity identity
	dataDir  string
	meta     metaState
	leaders  leaderFinder
	propose  proposeMetaFunc
	log      zerolog.Logger
}

// registeredBroker is the __meta record of this broker.
func registeredBroker(cfg *config.Config, incarnation string) *meta.Broker {
	eps := make([]meta.Endpoint, 0, len(cfg.AdvertisedListeners))
	for _, l := range cfg.AdvertisedListeners {
		eps = append(eps, meta.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	return &meta.Broker{ID: cfg.NodeID, RaftAddr: cfg.RaftAddr, HTTPAddr: cfg.HTTPAddr, AdvertisedHTTPAddr: cfg.AdvertisedHTTP(), Endpoints: eps, Incarnation: incarnation,
		Features: []string{meta.FeatureTxnMarkerSeq}}
}

// bootstrapScram lists the --bootstrap-scram-users credentials in a
// stable order.
func bootstrapScram(cfg *config.Config) []meta.ScramUpsert {
	var out []meta.ScramUpsert
	for _, user := range slices.Sorted(maps.Keys(cfg.SASL.BootstrapScram)) {
		for _, m := range slices.Sorted(maps.Keys(cfg.SASL.BootstrapScram[user])) {
			out = append(out, meta.ScramUpsert{User: user, Mechanism: m, Credential: cfg.SASL.BootstrapScram[user][m]})
		}
	}
	return out
}

// run proposes the registration until __meta holds it, then records the
// cluster id in the data directory's identity.
func (r registration) run(ctx context.Context) {
	if r.register(ctx) {
		r.recordCluster()
	}
}

// recordCluster writes the cluster id __meta holds into the identity file
// the first time it is known there, so that the directory can be told
// apart from another cluster's.
func (r registration) recordCluster() {
	cid := r.meta.State().ClusterID
	switch {
	case cid == "" || cid == r.identity.ClusterID:
		return
	case r.identity.ClusterID != "":
		r.log.Error().Str("cluster_id", cid).Str("identity_cluster_id", r.identity.ClusterID).Msg("__meta names another cluster than the data directory's identity")
		return
	}
	id := r.identity
	id.ClusterID = cid
	if err := writeIdentity(r.dataDir, id); err != nil {
		r.log.Error().Err(err).Msg("record the cluster id in the identity file")
		return
	}
	r.log.Info().Str("cluster_id", cid).Msg("identity: cluster id recorded")
}

// register proposes the registration until __meta holds it; false when
// ctx ended first.
func (r registration) register(ctx context.Context) bool {
	// A new cluster's brokers agreed on its id before Raft started (its
	// deployment id derives from it); the first registration applied sets it.
	cid := r.identity.NewClusterID
	if cid == "" {
		cid = randomID()
	}
	cmd := meta.Command{RegisterBroker: r.self, ClusterID: cid, BootstrapScram: r.bootstrapScram}
	for {
		if cur, ok := r.meta.State().Brokers[r.self.ID]; ok && sameBroker(cur, r.self) {
			return true
		}
		// Proposals before the first election are only dropped (and logged).
		if _, _, ok := r.leaders.leader(meta.ShardID); !ok {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := r.propose(pctx, cmd)
		cancel()
		if err == nil {
			r.log.Info().Uint64("node_id", r.self.ID).Str("incarnation", r.self.Incarnation).Msg("broker registered in __meta")
			return true
		}
		r.log.Debug().Err(err).Msg("register broker: retrying")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sameBroker(a, b *meta.Broker) bool {
	if a.RaftAddr != b.RaftAddr || a.HTTPAddr != b.HTTPAddr || a.AdvertisedHTTPAddr != b.AdvertisedHTTPAddr ||
		a.Incarnation != b.Incarnation || len(a.Endpoints) != len(b.Endpoints) || !slices.Equal(a.Features, b.Features) {
		return false
	}
	for i := range a.Endpoints {
		if a.Endpoints[i] != b.Endpoints[i] {
			return false
		}
	}
	return true
}
