package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestMinInsyncReplicas: with a broker down and out of the ISR, an
// acks=all produce to a topic asking for three in-sync replicas answers
// NOT_ENOUGH_REPLICAS, while acks=1 to it and acks=all to a topic asking
// for two still succeed; once the broker is back in the ISR, acks=all
// succeeds again.
func TestMinInsyncReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-broker cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.ReplicaLagTimeMax = 2 * time.Second
	}})
	seeds := c.Addrs()
	adm := kadm.NewClient(newClient(t, seeds))
	createWithConfigs(t, adm, "mis3", map[string]*string{"min.insync.replicas": str("3")})
	createWithConfigs(t, adm, "mis2", map[string]*string{"min.insync.replicas": str("2")})
	// No retries: the first answer is the one checked.
	opts := []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(10 * time.Second)}
	all := newClient(t, seeds, opts...)
	one := newClient(t, seeds, append(opts, kgo.RequiredAcks(kgo.LeaderAck()))...)
	produce := func(cl *kgo.Client, topic string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	for _, topic := range []string{"mis3", "mis2"} {
		if err := produce(all, topic); err != nil {
			t.Fatalf("acks=all to %s with every replica in sync: %v", topic, err)
		}
	}

	c.StopBroker(2)
	waitISRs(t, c, all, "mis3", 1, []int32{1, 2}, 20*time.Second)
	if err := produce(all, "mis3"); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all to mis3 with 2 replicas in sync: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if err := produce(one, "mis3"); err != nil {
		t.Fatalf("acks=1 to mis3: %v (min.insync.replicas applies to acks=all only)", err)
	}
	if err := produce(all, "mis2"); err != nil {
		t.Fatalf("acks=all to mis2 with 2 replicas in sync: %v", err)
	}

	c.StartBroker(2)
	waitISRs(t, c, all, "mis3", 1, []int32{1, 2, 3}, 60*time.Second)
	if err := produce(all, "mis3"); err != nil {
		t.Fatalf("acks=all to mis3 with the broker back in sync: %v", err)
	}
}
