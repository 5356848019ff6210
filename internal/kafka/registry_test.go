package kafka

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdvertisedVersions holds the whole advertised table, so that a
// change to it is deliberate: Apache Kafka 4.1's ranges, widened down to
// the old versions Debian's librdkafka 2.0.2 needs (Produce and Metadata
// from v0, among others).
func TestAdvertisedVersions(t *testing.T) {
	want := map[int16][2]int16{
		0:  {0, 13}, // Produce
		1:  {4, 18}, // Fetch
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
		17: {0, 1},  // SaslHandshake (v0: bare tokens follow)
		18: {0, 4},  // ApiVersions
		19: {2, 7},  // CreateTopics
		20: {1, 6},  // DeleteTopics
		21: {0, 2},  // DeleteRecords
		22: {0, 5},  // InitProducerId
		23: {2, 4},  // OffsetForLeaderEpoch
		24: {0, 5},  // AddPartitionsToTxn
		25: {0, 4},  // AddOffsetsToTxn
		26: {0, 4},  // EndTxn (v5 is KIP-890's transaction version 2)
		27: {0, 1},  // WriteTxnMarkers
		28: {0, 4},  // TxnOffsetCommit (v5 is KIP-890's transaction version 2)
		29: {1, 3},  // DescribeAcls (v0 removed in 4.0, KIP-896)
		30: {1, 3},  // CreateAcls
		31: {1, 3},  // DeleteAcls
		32: {1, 4},  // DescribeConfigs
		33: {0, 2},  // AlterConfigs
		35: {1, 4},  // DescribeLogDirs
		36: {0, 2},  // SaslAuthenticate
		37: {0, 3},  // CreatePartitions
		42: {0, 2},  // DeleteGroups
		43: {0, 2},  // ElectLeaders
		44: {0, 1},  // IncrementalAlterConfigs
		45: {0, 1},  // AlterPartitionReassignments
		46: {0, 0},  // ListPartitionReassignments
		47: {0, 0},  // OffsetDelete
		48: {0, 1},  // DescribeClientQuotas
		49: {0, 1},  // AlterClientQuotas
		50: {0, 0},  // DescribeUserScramCredentials
		51: {0, 0},  // AlterUserScramCredentials
		55: {0, 2},  // DescribeQuorum
		60: {0, 2},  // DescribeCluster
		61: {0, 0},  // DescribeProducers
		65: {0, 0},  // DescribeTransactions
		66: {0, 2},  // ListTransactions
		68: {0, 1},  // ConsumerGroupHeartbeat (KIP-848)
		69: {0, 1},  // ConsumerGroupDescribe (KIP-848)
		75: {0, 0},  // DescribeTopicPartitions
	}
	got := map[int16][2]int16{}
	resp := apiVersionsResponse(4)
	for i, ak := range resp.ApiKeys {
		if i > 0 && resp.ApiKeys[i-1].ApiKey >= ak.ApiKey {
			t.Errorf("ApiVersions lists key %d after %d: keys must ascend", ak.ApiKey, resp.ApiKeys[i-1].ApiKey)
		}
		got[ak.ApiKey] = [2]int16{ak.MinVersion, ak.MaxVersion}
	}
	if !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s (key %d): advertised %v, want %v", apiName(k), k, got[k], w)
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s (key %d): advertised %v, not in the table", apiName(k), k, g)
			}
		}
	}
}

// TestEveryAdvertisedAPIIsHandled: each key ApiVersions advertises has a
// handler, its request and response types are the key's, and its response
// has error codes that firstError reaches (and so the request metric
// counts), at every advertised version.
func TestEveryAdvertisedAPIIsHandled(t *testing.T) {
	for _, ak := range apiVersionsResponse(4).ApiKeys {
		a, ok := apis[ak.ApiKey]
		if !ok || a.start == nil {
			t.Errorf("%s (key %d) is advertised without a handler", apiName(ak.ApiKey), ak.ApiKey)
			continue
		}
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			resp := req.ResponseKind()
			if req.Key() != a.key || resp.Key() != a.key {
				t.Fatalf("%s v%d: request key %d, response key %d", apiName(a.key), v, req.Key(), resp.Key())
			}
			if n := setEveryErrorCode(t, reflect.ValueOf(resp).Elem()); n == 0 {
				t.Errorf("%s v%d: response has no error code firstError can report", apiName(a.key), v)
			}
		}
	}
}

// setEveryErrorCode sets, one at a time, each ErrorCode field reachable
// from v (growing empty slices to one element to reach nested ones), and
// checks firstError of the whole response reports it. It returns how many
// it checked.
func setEveryErrorCode(t *testing.T, v reflect.Value) int {
	t.Helper()
	root := v
	var paths [][]int
	var walk func(typ reflect.Type, path []int)
	walk = func(typ reflect.Type, path []int) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			p := append(append([]int(nil), path...), i)
			switch {
			case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
				paths = append(paths, p)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				walk(f.Type.Elem(), p)
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, p)
			}
		}
	}
	walk(v.Type(), nil)
	for i, path := range paths {
		fresh := reflect.New(root.Type()).Elem()
		fresh.Set(root)
		cur := fresh
		for _, idx := range path {
			cur = cur.Field(idx)
			if cur.Kind() == reflect.Slice {
				cur.Set(reflect.MakeSlice(cur.Type(), 1, 1))
				cur = cur.Index(0)
			}
		}
		code := int16(1000 + i)
		cur.SetInt(int64(code))
		if got := firstError(fresh.Addr().Interface().(kmsg.Response)); got != code {
			t.Errorf("%s: error code at field path %v: firstError gives %d, want %d", root.Type().Name(), path, got, code)
		}
	}
	return len(paths)
}

// TestFirstErrorOrder: the top level before topics, topics before their
// partitions, and a success anywhere is no error.
func TestFirstErrorOrder(t *testing.T) {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = 8
	for range 2 {
		g := kmsg.NewOffsetFetchResponseGroup()
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.Partitions = make([]kmsg.OffsetFetchResponseGroupTopicPartition, 2)
		g.Topics = append(g.Topics, gt)
		resp.Groups = append(resp.Groups, g)
	}
	if got := firstError(resp); got != 0 {
		t.Fatalf("all zero: firstError %d", got)
	}
	resp.Groups[1].Topics[0].Partitions[1].ErrorCode = kerr.UnstableOffsetCommit.Code
	if got := firstError(resp); got != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("nested partition code: firstError %d", got)
	}
	resp.Groups[1].ErrorCode = kerr.GroupIDNotFound.Code
	if got := firstError(resp); got != kerr.GroupIDNotFound.Code {
		t.Fatalf("group code before its partitions': firstError %d", got)
	}
	resp.ErrorCode = kerr.NotCoordinator.Code
	if got := firstError(resp); got != kerr.NotCoordinator.Code {
		t.Fatalf("top-level code first: firstError %d", got)
	}
	if got := firstError(nil); got != 0 {
		t.Fatalf("no response (acks=0): firstError %d", got)
	}
}
