package kafka_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/cluster"
	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/metrics"
	"github.com/longboat/longboat/internal/testcluster"
)

// groupName names the group the group requests ask about; it never exists.
const groupName = "errors-no-such-group"

// errorCase is a request a broker must refuse, and the error it gives.
type errorCase struct {
	req  func(version int16) kmsg.Request
	want *kerr.Error
}

// errorCases has one refused request per API this broker advertises.
func errorCases(t *testing.T) map[int16]errorCase {
	const (
		noTopic = "errors-no-such-topic"
		noGroup = groupName
		badName = "bad name!"
	)
	noTopicName := noTopic
	badTopicName := badName
	unknownID := [16]byte{0xde, 0xad, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x00, 0x80}
	return map[int16]errorCase{
		0: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Version, r.Acks, r.TimeoutMillis = v, -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = noTopic, unknownID
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = recordBatch(t, []byte("x"))
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicID},
		1: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.Version, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = v, 0, 1, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = noTopic, unknownID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicID},
		2: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.Version = v
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = noTopic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicOrPartition},
		3: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Version, r.AllowAutoTopicCreation = v, true
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &badTopicName
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.InvalidTopicException},
		8: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Version, r.Group, r.Generation = v, "", -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = noTopic
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.InvalidGroupID},
		9: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Version = v
			r.Groups = append(r.Groups, kmsg.NewOffsetFetchRequestGroup())
			return r
		}, kerr.InvalidGroupID},
		10: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.Version, r.CoordinatorType = v, 1 // transactions
			r.CoordinatorKey, r.CoordinatorKeys = "txn", []string{"txn"}
			return r
		}, kerr.InvalidRequest},
		11: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Version, r.Group, r.SessionTimeoutMillis, r.ProtocolType = v, "", 10000, "consumer"
			return r
		}, kerr.InvalidGroupID},
		12: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version, r.Group, r.MemberID, r.Generation = v, noGroup, "nobody", 1
			return r
		}, kerr.UnknownMemberID},
		13: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version, r.Group, r.MemberID = v, noGroup, "nobody"
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = "nobody"
			r.Members = append(r.Members, m)
			return r
		}, kerr.UnknownMemberID},
		14: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Version, r.Group, r.MemberID, r.Generation = v, noGroup, "nobody", 1
			return r
		}, kerr.UnknownMemberID},
		15: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Version, r.Groups = v, []string{noGroup}
			return r
		}, kerr.GroupIDNotFound},
		// ListGroups fails only while the group shards do not exist: see
		// listGroupsBeforeGroupShards.
		16: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrListGroupsRequest()
			r.Version = v
			return r
		}, kerr.CoordinatorNotAvailable},
		// ApiVersions fails at a version newer than advertised (KIP-511).
		18: {nil, kerr.UnsupportedVersion},
		19: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.Version, r.TimeoutMillis = v, 5000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = badName, 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.InvalidTopicException},
		20: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.Version, r.TimeoutMillis, r.TopicNames = v, 5000, []string{noTopic}
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &noTopicName
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicOrPartition},
		21: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.Version, r.TimeoutMillis = v, 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = noTopic
			rt.Partitions = append(rt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicOrPartition},
		22: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			txn := "errors-txn"
			r.Version, r.TransactionalID, r.TransactionTimeoutMillis = v, &txn, 10000
			return r
		}, kerr.TransactionalIDAuthorizationFailed},
		23: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.Version = v
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = noTopic
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicOrPartition},
		32: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Version = v
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, noTopic
			r.Resources = append(r.Resources, rr)
			return r
		}, kerr.UnknownTopicOrPartition},
		33: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.Version = v
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, noTopic
			r.Resources = append(r.Resources, rr)
			return r
		}, kerr.UnknownTopicOrPartition},
		37: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.Version, r.TimeoutMillis = v, 5000
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = noTopic, 2
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.UnknownTopicOrPartition},
		42: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version, r.Groups = v, []string{noGroup}
			return r
		}, kerr.GroupIDNotFound},
		44: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.Version = v
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, noTopic
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			val := "1000"
			c.Name, c.Op, c.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, &val
			rr.Configs = append(rr.Configs, c)
			r.Resources = append(r.Resources, rr)
			return r
		}, kerr.UnknownTopicOrPartition},
		47: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Version, r.Group = v, noGroup
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = noTopic
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.GroupIDNotFound},
		60: {func(v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeClusterRequest()
			r.Version, r.EndpointType = v, 2 // controllers
			return r
		}, kerr.MismatchedEndpointType},
	}
}

// TestErrorsCountedPerAPI drives every API the broker advertises once, at
// its highest version, with a request the broker must refuse, and checks
// longboat_kafka_requests_total in the broker's registry counted that
// error under the API's name.
func TestErrorsCountedPerAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 1})
	b := c.Brokers[0]
	addr := c.Addrs()[0]
	conn := dial(t, addr)
	advertised := apiVersions(t, conn)
	// A ready broker may still be creating its group shards; the group
	// requests below must meet their coordinator, as a client's would.
	awaitCoordinator(t, conn, groupName)
	cases := errorCases(t)
	for _, ak := range advertised {
		if _, ok := cases[ak.ApiKey]; !ok {
			t.Errorf("%s (key %d) is advertised but has no error case here", kmsg.NameForKey(ak.ApiKey), ak.ApiKey)
		}
	}
	corr := int32(100)
	for _, ak := range advertised {
		ec, ok := cases[ak.ApiKey]
		if !ok {
			continue
		}
		name := kmsg.NameForKey(ak.ApiKey)
		corr++
		switch ak.ApiKey {
		case 16:
			listGroupsBeforeGroupShards(t, b.Node, b.Groups, c.Configs[0], ec.req(ak.MaxVersion))
			continue
		case 18:
			writeFrame(t, conn, headerBytes(18, ak.MaxVersion+1, corr, "errors-test", true))
		default:
			req := ec.req(ak.MaxVersion)
			writeFrame(t, conn, req.AppendTo(headerBytes(ak.ApiKey, ak.MaxVersion, corr, "errors-test", req.IsFlexible())))
		}
		if got, _ := readResponse(t, conn); got != corr {
			t.Fatalf("%s: correlation id %d, sent %d", name, got, corr)
		}
		if counted := requestsCounted(t, b.Metrics, name); counted[ec.want.Message] < 1 {
			t.Errorf("%s v%d: longboat_kafka_requests_total{api=%q} by error is %v, want %s at least once", name, ak.MaxVersion, name, counted, ec.want.Message)
		}
	}
}

// awaitCoordinator asks for a group's coordinator until one is found.
func awaitCoordinator(t *testing.T, conn net.Conn, group string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for corr := int32(50); ; corr++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKeys = 6, []string{group}
		writeFrame(t, conn, req.AppendTo(headerBytes(10, 6, corr, "errors-test", true)))
		_, body := readResponse(t, conn)
		resp := kmsg.NewPtrFindCoordinatorResponse()
		resp.Version = 6
		if err := resp.ReadFrom(body[1:]); err != nil || len(resp.Coordinators) != 1 {
			t.Fatalf("FindCoordinator: %v %+v", err, resp)
		}
		if resp.Coordinators[0].ErrorCode == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no coordinator for group %s after 30 s: error code %d", group, resp.Coordinators[0].ErrorCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiVersions asks for the advertised ranges.
func apiVersions(t *testing.T, conn net.Conn) []kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	writeFrame(t, conn, headerBytes(18, 0, 1, "errors-test", false))
	_, body := readResponse(t, conn)
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v, error code %d", err, resp.ErrorCode)
	}
	return resp.ApiKeys
}

// noGroupShards is a broker's node as it is before the group shards are
// created.
type noGroupShards struct{ *cluster.Node }

func (noGroupShards) GroupShardIDs() []uint64 { return nil }

// listGroupsBeforeGroupShards serves the cluster through a second Kafka
// server on its own listener, whose node has no group shards yet, and
// checks its ListGroups fails and is counted so.
func listGroupsBeforeGroupShards(t *testing.T, node *cluster.Node, groups kafka.Groups, base *config.Config, req kmsg.Request) {
	t.Helper()
	cfg := *base
	host, port, err := net.SplitHostPort(testcluster.FreeAddrs(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	cfg.Listeners = []config.Listener{{Name: base.Listeners[0].Name, Host: host, Port: p}}
	m := metrics.New("test")
	srv := kafka.New(&cfg, noGroupShards{node}, groups, m, zerolog.Nop())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	conn := dial(t, cfg.Listeners[0].Addr())
	writeFrame(t, conn, req.AppendTo(headerBytes(req.Key(), req.GetVersion(), 7, "errors-test", req.IsFlexible())))
	_, body := readResponse(t, conn)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if err := resp.ReadFrom(body[1:]); err != nil { // body[0] is the flexible header's empty tag section
		t.Fatalf("ListGroups: %v", err)
	}
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("ListGroups before the group shards exist: error code %d, want %d", resp.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	}
	if counted := requestsCounted(t, m, "ListGroups"); counted[kerr.CoordinatorNotAvailable.Message] != 1 {
		t.Errorf("ListGroups: longboat_kafka_requests_total by error is %v, want %s once", counted, kerr.CoordinatorNotAvailable.Message)
	}
}

// requestsCounted reads longboat_kafka_requests_total of one API, by
// error label, from a broker's metrics registry.
func requestsCounted(t *testing.T, m *metrics.Metrics, api string) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "longboat_kafka_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["api"] == api {
				out[labels["error"]] += s.GetCounter().GetValue()
			}
		}
	}
	return out
}
