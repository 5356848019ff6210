package cluster

import (
	"testing"

	"github.com/longboat/longboat/internal/meta"
)

// TestCampaignForOneReplica checks that every surviving broker picks the
// same single campaigner for a partition: the first replica in replica
// order that is neither the dead leader nor down, so two followers never
// split the vote.
func TestCampaignForOneReplica(t *testing.T) {
	p := meta.Partition{Replicas: []uint64{3, 1, 2}}
	none := func(uint64) bool { return false }
	cases := []struct {
		dead uint64
		down func(uint64) bool
		want uint64
	}{
		{dead: 3, down: none, want: 1},
		{dead: 1, down: none, want: 3},
		{dead: 2, down: none, want: 3},
		{dead: 3, down: func(b uint64) bool { return b == 1 }, want: 2},
		{dead: 3, down: func(b uint64) bool { return b != 3 }, want: 0},
	}
	for _, c := range cases {
		if got := campaignFor(p, c.dead, c.down); got != c.want {
			t.Errorf("dead %d: campaigner %d, want %d", c.dead, got, c.want)
		}
	}
}
