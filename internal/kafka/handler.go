package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type versionRange struct{ min, max int16 }

// versions lists every API this broker implements and the versions it
// advertises: Apache Kafka 4.1's ranges, widened down to the old versions
// Debian's librdkafka 2.0.2 needs (Produce from v0, Metadata from v0).
var versions = map[int16]versionRange{
	0:  {0, 12}, // Produce
	1:  {4, 17}, // Fetch
	2:  {1, 10}, // ListOffsets
	3:  {0, 13}, // Metadata
	8:  {2, 9},  // OffsetCommit
	9:  {1, 9},  // OffsetFetch
	10: {0, 6},  // FindCoordinator
	11: {0, 9},  // JoinGroup
	12: {0, 4},  // Heartbeat
	13: {0, 5},  // LeaveGroup
	14: {0, 5},  // SyncGroup
	15: {0, 6},  // DescribeGroups
	16: {0, 5},  // ListGroups
	18: {0, 4},  // ApiVersions
	19: {2, 7},  // CreateTopics
	20: {1, 6},  // DeleteTopics
	21: {0, 2},  // DeleteRecords
	22: {0, 5},  // InitProducerId
	23: {2, 4},  // OffsetForLeaderEpoch
	32: {1, 4},  // DescribeConfigs
	33: {0, 2},  // AlterConfigs
	35: {1, 4},  // DescribeLogDirs
	37: {0, 3},  // CreatePartitions
	42: {0, 2},  // DeleteGroups
	43: {0, 2},  // ElectLeaders
	44: {0, 1},  // IncrementalAlterConfigs
	47: {0, 0},  // OffsetDelete
	60: {0, 1},  // DescribeCluster
	61: {0, 0},  // DescribeProducers
	75: {0, 0},  // DescribeTopicPartitions
}

// start begins a request on the connection's reader goroutine and returns
// the rest of its work, which runs concurrently with later requests.
// Produce starts its proposals here, in request order; everything else
// runs entirely in the returned func. A nil response means none is sent.
func (s *Server) start(ctx context.Context, req *request) func() kmsg.Response {
	if body, ok := req.body.(*kmsg.ProduceRequest); ok {
		return s.startProduce(ctx, body)
	}
	return func() kmsg.Response { return s.handle(ctx, req) }
}

// handle runs one request other than Produce.
func (s *Server) handle(ctx context.Context, req *request) kmsg.Response {
	switch body := req.body.(type) {
	case *kmsg.FetchRequest:
		return s.fetch(ctx, req, body)
	case *kmsg.ListOffsetsRequest:
		return s.listOffsets(ctx, body)
	case *kmsg.MetadataRequest:
		return s.metadata(ctx, req, body)
	case *kmsg.ApiVersionsRequest:
		return apiVersionsResponse(req.version)
	case *kmsg.CreateTopicsRequest:
		return s.createTopics(ctx, body)
	case *kmsg.DeleteTopicsRequest:
		return s.deleteTopics(ctx, body)
	case *kmsg.DescribeConfigsRequest:
		return s.describeConfigs(ctx, body)
	case *kmsg.AlterConfigsRequest:
		return s.alterConfigs(ctx, body)
	case *kmsg.IncrementalAlterConfigsRequest:
		return s.incrementalAlterConfigs(ctx, body)
	case *kmsg.DeleteRecordsRequest:
		return s.deleteRecords(ctx, body)
	case *kmsg.OffsetForLeaderEpochRequest:
		return s.offsetForLeaderEpoch(ctx, body)
	case *kmsg.CreatePartitionsRequest:
		return s.createPartitions(ctx, body)
	case *kmsg.DescribeClusterRequest:
		return s.describeCluster(req, body)
	case *kmsg.InitProducerIDRequest:
		return s.initProducerID(ctx, body)
	case *kmsg.FindCoordinatorRequest:
		return s.findCoordinator(req, body)
	case *kmsg.JoinGroupRequest:
		return s.joinGroup(ctx, req, body)
	case *kmsg.SyncGroupRequest:
		return s.syncGroup(ctx, body)
	case *kmsg.HeartbeatRequest:
		return s.heartbeat(ctx, body)
	case *kmsg.LeaveGroupRequest:
		return s.leaveGroup(ctx, body)
	case *kmsg.OffsetCommitRequest:
		return s.offsetCommit(ctx, body)
	case *kmsg.OffsetFetchRequest:
		return s.offsetFetch(ctx, body)
	case *kmsg.DescribeGroupsRequest:
		return s.describeGroups(ctx, body)
	case *kmsg.ListGroupsRequest:
		return s.listGroups(ctx, body)
	case *kmsg.DeleteGroupsRequest:
		return s.deleteGroups(ctx, body)
	case *kmsg.OffsetDeleteRequest:
		return s.offsetDelete(ctx, body)
	case *kmsg.DescribeLogDirsRequest:
		return s.describeLogDirs(ctx, body)
	case *kmsg.ElectLeadersRequest:
		return s.electLeaders(ctx, body)
	case *kmsg.DescribeProducersRequest:
		return s.describeProducers(ctx, body)
	case *kmsg.DescribeTopicPartitionsRequest:
		return s.describeTopicPartitions(ctx, body)
	}
	// decodeRequest only admits keys listed in versions, each handled above.
	panic("kafka: no handler for " + apiName(req.key))
}
