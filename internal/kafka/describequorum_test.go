package kafka_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testDescribeQuorum asks every broker for the metadata quorum, as
// kafka-metadata-quorum.sh does: each names __meta's leader, its term and
// the three voters, and once the leader has heard from its followers,
// every voter's position and when it was last caught up. A request for
// another partition is UNKNOWN_TOPIC_OR_PARTITION.
func (e *adminEnv) testDescribeQuorum(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	describe := func(broker int32, topic string, version int16) *kmsg.DescribeQuorumResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = version
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp, err := e.cl.Broker(int(broker)).Request(ctx, req)
		if err != nil {
			t.Fatalf("DescribeQuorum v%d to broker %d: %v", version, broker, err)
		}
		return resp.(*kmsg.DescribeQuorumResponse)
	}
	cluster, err := e.adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var problems []string
		var leaders []int32
		for _, b := range []int32{1, 2, 3} {
			resp := describe(b, "__cluster_metadata", 2)
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("broker %d: error %d, %+v", b, resp.ErrorCode, resp.Topics)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 {
				problems = append(problems, kerr.ErrorForCode(p.ErrorCode).Error()+": "+fmt.Sprint(*p.ErrorMessage))
				continue
			}
			leaders = append(leaders, p.LeaderID, p.LeaderEpoch)
			var voters []int32
			for _, v := range p.CurrentVoters {
				voters = append(voters, v.ReplicaID)
				if v.LogEndOffset <= 0 || v.LogEndOffset > p.HighWatermark || v.LastCaughtUpTimestamp <= 0 || v.LastFetchTimestamp <= 0 {
					problems = append(problems, "voter without progress yet")
				}
			}
			if !slices.Equal(voters, []int32{1, 2, 3}) || len(p.Observers) != 0 || len(resp.Nodes) != 3 || len(resp.Nodes[0].Listeners) == 0 {
				t.Fatalf("broker %d: voters %v, %d observers, nodes %+v", b, voters, len(p.Observers), resp.Nodes)
			}
			if p.LeaderID != cluster.Controller || p.HighWatermark <= 0 {
				t.Fatalf("broker %d: leader %d (DescribeCluster's controller %d), high watermark %d", b, p.LeaderID, cluster.Controller, p.HighWatermark)
			}
		}
		if len(problems) == 0 {
			for i := 2; i < len(leaders); i += 2 {
				if leaders[i] != leaders[0] || leaders[i+1] != leaders[1] {
					t.Fatalf("brokers disagree on the leader and epoch: %v", leaders)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %v", problems)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp := describe(1, "__cluster_metadata", 0); resp.ErrorCode != 0 || len(resp.Topics[0].Partitions[0].CurrentVoters) != 3 {
		t.Errorf("v0: error %d, %+v", resp.ErrorCode, resp.Topics)
	}
	if resp := describe(2, "__meta", 2); resp.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(resp.Topics) != 0 {
		t.Errorf("another partition: error %d, %+v", resp.ErrorCode, resp.Topics)
	}
}
