package kafka_test

import (
	"context"
	"errors"
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

// errorCase is a request a broker must refuse, and the error it gives; the
// test sends it at the highest version advertised.
type errorCase struct {
	req  kmsg.Request
	want *kerr.Error
}

// errorCases has one refused request per API this broker advertises.
// Requests whose defaults matter (leader epochs, replica ids, producer ids)
// start from kmsg's constructors.
func errorCases(t *testing.T) map[int16]errorCase {
	const noTopic = "errors-no-such-topic"
	noTopicName, badName := noTopic, "bad name!"
	unknownID := [16]byte{0xde, 0xad, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x00, 0x80}

	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = -1, 5000
	produceTopic := kmsg.NewProduceRequestTopic()
	produceTopic.Topic, produceTopic.TopicID = noTopic, unknownID
	producePartition := kmsg.NewProduceRequestTopicPartition()
	producePartition.Records = recordBatch(t, []byte("x"))
	produceTopic.Partitions = append(produceTopic.Partitions, producePartition)
	produce.Topics = append(produce.Topics, produceTopic)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MinBytes, fetch.MaxBytes = 1, 1<<20
	fetchTopic := kmsg.NewFetchRequestTopic()
	fetchTopic.Topic, fetchTopic.TopicID = noTopic, unknownID
	fetchTopic.Partitions = append(fetchTopic.Partitions, kmsg.NewFetchRequestTopicPartition())
	fetch.Topics = append(fetch.Topics, fetchTopic)

	listOffsets := kmsg.NewPtrListOffsetsRequest()
	listOffsetsTopic := kmsg.NewListOffsetsRequestTopic()
	listOffsetsTopic.Topic = noTopic
	listOffsetsTopic.Partitions = append(listOffsetsTopic.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	listOffsets.Topics = append(listOffsets.Topics, listOffsetsTopic)

	epochs := kmsg.NewPtrOffsetForLeaderEpochRequest()
	epochsTopic := kmsg.NewOffsetForLeaderEpochRequestTopic()
	epochsTopic.Topic = noTopic
	epochsTopic.Partitions = append(epochsTopic.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
	epochs.Topics = append(epochs.Topics, epochsTopic)

	txnID := "errors-txn"
	initProducer := kmsg.NewPtrInitProducerIDRequest()
	initProducer.TransactionalID, initProducer.TransactionTimeoutMillis = &txnID, 0
	addParts := kmsg.NewPtrAddPartitionsToTxnRequest()
	addParts.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: txnID, ProducerID: 1,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: noTopic, Partitions: []int32{0}}}}}
	badPattern := "("

	retention := "1000"
	topicResource := kmsg.ConfigResourceTypeTopic
	return map[int16]errorCase{
		0: {produce, kerr.UnknownTopicID},
		1: {fetch, kerr.UnknownTopicID},
		2: {listOffsets, kerr.UnknownTopicOrPartition},
		3: {&kmsg.MetadataRequest{AllowAutoTopicCreation: true, Topics: []kmsg.MetadataRequestTopic{{Topic: &badName}}}, kerr.InvalidTopicException},
		8: {&kmsg.OffsetCommitRequest{Generation: -1, Topics: []kmsg.OffsetCommitRequestTopic{{Topic: noTopic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{}}}}}, kerr.InvalidGroupID},
		9: {&kmsg.OffsetFetchRequest{Groups: []kmsg.OffsetFetchRequestGroup{{Group: ""}}}, kerr.InvalidGroupID},
		// Group (0) and transaction (1) coordinators exist, no others.
		10: {&kmsg.FindCoordinatorRequest{CoordinatorType: 2, CoordinatorKey: "txn", CoordinatorKeys: []string{"txn"}}, kerr.InvalidRequest},
		11: {&kmsg.JoinGroupRequest{SessionTimeoutMillis: 10000, ProtocolType: "consumer"}, kerr.InvalidGroupID},
		12: {&kmsg.HeartbeatRequest{Group: groupName, MemberID: "nobody", Generation: 1}, kerr.UnknownMemberID},
		13: {&kmsg.LeaveGroupRequest{Group: groupName, MemberID: "nobody", Members: []kmsg.LeaveGroupRequestMember{{MemberID: "nobody"}}}, kerr.UnknownMemberID},
		14: {&kmsg.SyncGroupRequest{Group: groupName, MemberID: "nobody", Generation: 1}, kerr.UnknownMemberID},
		15: {&kmsg.DescribeGroupsRequest{Groups: []string{groupName}}, kerr.GroupIDNotFound},
		// ListGroups fails only while the group shards do not exist.
		16: {&kmsg.ListGroupsRequest{}, kerr.CoordinatorNotAvailable},
		// ApiVersions fails at a version newer than advertised (KIP-511).
		17: {&kmsg.SASLHandshakeRequest{Mechanism: "PLAIN"}, kerr.IllegalSaslState}, // no SASL on PLAINTEXT
		18: {&kmsg.ApiVersionsRequest{}, kerr.UnsupportedVersion},
		19: {&kmsg.CreateTopicsRequest{TimeoutMillis: 5000, Topics: []kmsg.CreateTopicsRequestTopic{{Topic: badName, NumPartitions: 1, ReplicationFactor: 1}}}, kerr.InvalidTopicException},
		20: {&kmsg.DeleteTopicsRequest{TimeoutMillis: 5000, TopicNames: []string{noTopic}, Topics: []kmsg.DeleteTopicsRequestTopic{{Topic: &noTopicName}}}, kerr.UnknownTopicOrPartition},
		21: {&kmsg.DeleteRecordsRequest{TimeoutMillis: 5000, Topics: []kmsg.DeleteRecordsRequestTopic{{Topic: noTopic, Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{}}}}}, kerr.UnknownTopicOrPartition},
		22: {initProducer, kerr.InvalidTransactionTimeout},
		// A topic that does not exist fails before the coordinator is asked, as in Kafka.
		24: {addParts, kerr.UnknownTopicOrPartition},
		25: {&kmsg.AddOffsetsToTxnRequest{TransactionalID: txnID, ProducerID: 1, Group: groupName}, kerr.InvalidProducerIDMapping},
		26: {&kmsg.EndTxnRequest{TransactionalID: txnID, ProducerID: 1, Commit: true}, kerr.InvalidProducerIDMapping},
		28: {&kmsg.TxnOffsetCommitRequest{TransactionalID: txnID, Generation: -1, Topics: []kmsg.TxnOffsetCommitRequestTopic{{Topic: noTopic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{}}}}}, kerr.InvalidGroupID},
		23: {epochs, kerr.UnknownTopicOrPartition},
		27: {&kmsg.WriteTxnMarkersRequest{Markers: []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: 1, Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: noTopic, Partitions: []int32{0}}}}}}, kerr.UnknownTopicOrPartition},
		32: {&kmsg.DescribeConfigsRequest{Resources: []kmsg.DescribeConfigsRequestResource{{ResourceType: topicResource, ResourceName: noTopic}}}, kerr.UnknownTopicOrPartition},
		33: {&kmsg.AlterConfigsRequest{Resources: []kmsg.AlterConfigsRequestResource{{ResourceType: topicResource, ResourceName: noTopic}}}, kerr.UnknownTopicOrPartition},
		// Without an authorizer DescribeLogDirs fails only on a bad volume.
		35: {&kmsg.DescribeLogDirsRequest{}, kerr.KafkaStorageError},
		36: {&kmsg.SASLAuthenticateRequest{}, kerr.IllegalSaslState},
		37: {&kmsg.CreatePartitionsRequest{TimeoutMillis: 5000, Topics: []kmsg.CreatePartitionsRequestTopic{{Topic: noTopic, Count: 2}}}, kerr.UnknownTopicOrPartition},
		42: {&kmsg.DeleteGroupsRequest{Groups: []string{groupName}}, kerr.GroupIDNotFound},
		44: {&kmsg.IncrementalAlterConfigsRequest{Resources: []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: topicResource, ResourceName: noTopic,
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: &retention}}}}}, kerr.UnknownTopicOrPartition},
		29: {&kmsg.DescribeACLsRequest{ResourceType: kmsg.ACLResourceTypeUnknown, ResourcePatternType: 1, Operation: 1, PermissionType: 1}, kerr.InvalidRequest},
		30: {&kmsg.CreateACLsRequest{Creations: []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", ResourcePatternType: 3, Principal: "nobody", Host: "*", Operation: 3, PermissionType: 3}}}, kerr.InvalidRequest},
		31: {&kmsg.DeleteACLsRequest{Filters: []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeUnknown, ResourcePatternType: 1, Operation: 1, PermissionType: 1}}}, kerr.InvalidRequest},
		43: {&kmsg.ElectLeadersRequest{ElectionType: 7, TimeoutMillis: 5000}, kerr.InvalidRequest},
		45: {&kmsg.AlterPartitionAssignmentsRequest{TimeoutMillis: 5000, AllowReplicationFactorChange: true, Topics: []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: noTopic,
			Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Replicas: []int32{1}}}}}}, kerr.UnknownTopicOrPartition},
		// Fails only when __meta's quorum cannot be reached.
		46: {&kmsg.ListPartitionReassignmentsRequest{TimeoutMillis: 1000}, kerr.RequestTimedOut},
		47: {&kmsg.OffsetDeleteRequest{Group: groupName, Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: noTopic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{}}}}}, kerr.GroupIDNotFound},
		48: {&kmsg.DescribeClientQuotasRequest{Components: []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0}}}, kerr.InvalidRequest},
		49: {&kmsg.AlterClientQuotasRequest{Entries: []kmsg.AlterClientQuotasRequestEntry{{Entity: []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user"}},
			Ops: []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 0.5}}}}}, kerr.InvalidRequest},
		50: {&kmsg.DescribeUserSCRAMCredentialsRequest{Users: []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "nobody"}}}, kerr.ResourceNotFound},
		51: {&kmsg.AlterUserSCRAMCredentialsRequest{Deletions: []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "nobody", Mechanism: 1}}}, kerr.ResourceNotFound},
		55: {&kmsg.DescribeQuorumRequest{Topics: []kmsg.DescribeQuorumRequestTopic{{Topic: noTopic, Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{}}}}}, kerr.UnknownTopicOrPartition},
		60: {&kmsg.DescribeClusterRequest{EndpointType: 2}, kerr.MismatchedEndpointType}, // controllers
		61: {&kmsg.DescribeProducersRequest{Topics: []kmsg.DescribeProducersRequestTopic{{Topic: noTopic, Partitions: []int32{0}}}}, kerr.UnknownTopicOrPartition},
		65: {&kmsg.DescribeTransactionsRequest{TransactionalIDs: []string{txnID}}, kerr.TransactionalIDNotFound},
		66: {&kmsg.ListTransactionsRequest{DurationFilterMillis: -1, TransactionalIDPattern: &badPattern}, kerr.InvalidRegularExpression},
		68: {&kmsg.ConsumerGroupHeartbeatRequest{Group: groupName, MemberID: "nobody", MemberEpoch: 3}, kerr.GroupIDNotFound},
		69: {&kmsg.ConsumerGroupDescribeRequest{Groups: []string{groupName}}, kerr.GroupIDNotFound},
		75: {&kmsg.DescribeTopicPartitionsRequest{ResponsePartitionLimit: 2000, Topics: []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: noTopic}}}, kerr.UnknownTopicOrPartition},
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
		ec.req.SetVersion(ak.MaxVersion)
		switch ak.ApiKey {
		case 16:
			refusedByNodeInState(t, noGroupShards{b.Node}, b.Groups, c.Configs[0], ec.req, ec.want)
			continue
		case 35:
			refusedByNodeInState(t, unreadableLogDir{b.Node}, b.Groups, c.Configs[0], ec.req, ec.want)
			continue
		case 46:
			refusedByNodeInState(t, unreachableMeta{b.Node}, b.Groups, c.Configs[0], ec.req, ec.want)
			continue
		case 18:
			writeFrame(t, conn, headerBytes(18, ak.MaxVersion+1, corr, "errors-test", true))
		default:
			writeFrame(t, conn, ec.req.AppendTo(headerBytes(ak.ApiKey, ak.MaxVersion, corr, "errors-test", ec.req.IsFlexible())))
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

// unreadableLogDir is a broker's node whose data directory cannot be
// resolved, as on a failed volume.
type unreadableLogDir struct{ *cluster.Node }

func (unreadableLogDir) LogDir() (string, error) { return "", errors.New("data directory unreadable") }

// unreachableMeta is a broker's node cut off from __meta's quorum.
type unreachableMeta struct{ *cluster.Node }

func (unreachableMeta) SyncMeta(context.Context) error { return errors.New("no quorum") }

// refusedByNodeInState serves the cluster through a second Kafka server on
// its own listener, over a node in a state the running broker is not in
// (node), sends req, and checks the error the response carries first is
// want and is counted so.
func refusedByNodeInState(t *testing.T, node kafka.Node, groups kafka.Groups, base *config.Config, req kmsg.Request, want *kerr.Error) {
	t.Helper()
	name := kmsg.NameForKey(req.Key())
	cfg := *base
	host, port, err := net.SplitHostPort(testcluster.FreeAddrs(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	cfg.Listeners = []config.Listener{{Name: base.Listeners[0].Name, Host: host, Port: p}}
	m := metrics.New("test")
	srv := kafka.New(&cfg, node, groups, m, zerolog.Nop())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	conn := dial(t, cfg.Listeners[0].Addr())
	writeFrame(t, conn, req.AppendTo(headerBytes(req.Key(), req.GetVersion(), 7, "errors-test", req.IsFlexible())))
	_, body := readResponse(t, conn)
	resp := req.ResponseKind()
	if req.IsFlexible() {
		body = body[1:] // the flexible header's empty tag section
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if code := kafka.FirstError(resp); code != want.Code {
		t.Fatalf("%s: error code %d, want %d (%s)", name, code, want.Code, want.Message)
	}
	if counted := requestsCounted(t, m, name); counted[want.Message] != 1 {
		t.Errorf("%s: longboat_kafka_requests_total by error is %v, want %s once", name, counted, want.Message)
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
