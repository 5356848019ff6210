package kafka_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// adminEnv is one three-broker cluster the admin API tests share.
type adminEnv struct {
	c   *testcluster.Cluster
	cl  *kgo.Client
	adm *kadm.Client
}

// TestAdminAPIs drives the APIs admin tools use (topic ids in Metadata,
// Fetch and DeleteTopics, DescribeTopicPartitions, DescribeLogDirs,
// DescribeProducers, ElectLeaders) against a real three-broker cluster.
// The leader balancer is slowed to an hour so that only ElectLeaders moves
// leadership back to a preferred replica.
func TestAdminAPIs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	env := newAdminEnv(t, func(cfg *config.Config) { cfg.LeaderBalanceInterval = time.Hour })
	t.Run("MetadataByID", env.testMetadataByID)
	t.Run("FetchByID", env.testFetchByID)
	t.Run("DeleteTopicsByID", env.testDeleteTopicsByID)
	t.Run("DescribeTopicPartitions", env.testDescribeTopicPartitions)
	t.Run("DescribeLogDirs", env.testDescribeLogDirs)
	t.Run("DescribeProducers", env.testDescribeProducers)
	t.Run("ManualAssignment", env.testManualAssignment)
	t.Run("DescribeQuorum", env.testDescribeQuorum)
	t.Run("GroupConfigs", env.testGroupConfigs)
	// Last: it stops a broker.
	t.Run("ElectLeaders", env.testElectLeaders)
}

// newAdminEnv starts three brokers with adjust applied to their config and
// a client (acks=all, then opts) to them.
func newAdminEnv(t *testing.T, adjust func(*config.Config), opts ...kgo.Opt) *adminEnv {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: adjust})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &adminEnv{c: c, cl: cl, adm: kadm.NewClient(cl)}
}

// createTopic creates a topic with a replica on every broker and waits
// until each partition is led by its preferred replica (the first election
// of a new partition is handed to it at once).
func (e *adminEnv) createTopic(t *testing.T, name string, partitions int32) kmsg.MetadataResponseTopic {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	if _, err := e.adm.CreateTopic(ctx, partitions, 3, nil, name); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	for {
		mt := e.metadata(t, name)
		led := mt.ErrorCode == 0 && len(mt.Partitions) == int(partitions)
		for _, p := range mt.Partitions {
			led = led && p.ErrorCode == 0 && p.Leader == p.Replicas[0]
		}
		if led {
			return mt
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s is not led by its preferred replicas: %+v", name, mt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metadata asks for one topic by name.
func (e *adminEnv) metadata(t *testing.T, name string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &name
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata for %s: %d topics", name, len(resp.Topics))
	}
	return resp.Topics[0]
}

// metadataByIDs sends Metadata v12 naming topics the way the Java client
// does for ids: each id with the given name (nil or "").
func (e *adminEnv) metadataByIDs(t *testing.T, name *string, ids ...[16]byte) []kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	for _, id := range ids {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic, rt.TopicID = name, id
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics
}

func (e *adminEnv) testMetadataByID(t *testing.T) {
	mt := e.createTopic(t, "ids-meta", 3)
	unknown := [16]byte{0xde, 0xad}
	empty := ""
	other := "ids-some-other-name"
	for _, name := range []*string{&empty, nil, &other} {
		got := e.metadataByIDs(t, name, mt.TopicID, unknown)
		if len(got) != 2 {
			t.Fatalf("name %v: %d topics, want 2: %+v", name, len(got), got)
		}
		known, missing := got[0], got[1]
		if known.ErrorCode != 0 || known.Topic == nil || *known.Topic != "ids-meta" || known.TopicID != mt.TopicID || len(known.Partitions) != 3 {
			t.Fatalf("name %v: known id answered %+v", name, known)
		}
		for _, p := range known.Partitions {
			if p.Leader <= 0 || len(p.Replicas) != 3 {
				t.Fatalf("name %v: partition %+v", name, p)
			}
		}
		if missing.ErrorCode != kerr.UnknownTopicID.Code || missing.Topic != nil || missing.TopicID != unknown {
			t.Fatalf("name %v: unknown id answered %+v", name, missing)
		}
	}
}

func (e *adminEnv) testFetchByID(t *testing.T) {
	mt := e.createTopic(t, "ids-fetch", 1)
	if err := e.cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: "ids-fetch", Value: []byte("by-id")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := func(id [16]byte) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 13, 100, 1, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.TopicID = id
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl.Broker(int(mt.Partitions[0].Leader)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].TopicID != id {
			t.Fatalf("fetch by id: %+v", resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	p := fetch(mt.TopicID)
	if p.ErrorCode != 0 || p.HighWatermark != 1 {
		t.Fatalf("fetch by id: %+v", p)
	}
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(p.RecordBatches); err != nil || batch.NumRecords != 1 {
		t.Fatalf("fetch by id: batch %+v, err %v", batch, err)
	}
	if p := fetch([16]byte{0xbe, 0xef}); p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("fetch by an unknown id: %+v", p)
	}
}

func (e *adminEnv) testDeleteTopicsByID(t *testing.T) {
	byID := e.createTopic(t, "ids-del-null-name", 1)
	byIDEmpty := e.createTopic(t, "ids-del-empty-name", 1)
	both := e.createTopic(t, "ids-del-both", 1)
	empty, bothName := "", "ids-del-both"
	unknown := [16]byte{0xfe, 0xed}
	dup := [16]byte{0xd0, 0x0d}
	entries := []struct {
		name *string
		id   [16]byte
	}{
		{nil, byID.TopicID},
		{&empty, byIDEmpty.TopicID},
		{&bothName, both.TopicID},
		{nil, unknown},
		{nil, dup},
		{nil, dup},
		{nil, [16]byte{}},
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 30000
	for _, en := range entries {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = en.name, en.id
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxT(t, 40*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[[16]byte][]int16{}
	names := map[[16]byte]string{}
	for _, rt := range resp.Topics {
		got[rt.TopicID] = append(got[rt.TopicID], rt.ErrorCode)
		if rt.Topic != nil {
			names[rt.TopicID] = *rt.Topic
		}
	}
	want := map[[16]byte][]int16{
		byID.TopicID:      {0},
		byIDEmpty.TopicID: {0},
		both.TopicID:      {kerr.InvalidRequest.Code},
		unknown:           {kerr.UnknownTopicID.Code},
		dup:               {kerr.InvalidRequest.Code},
		{}:                {kerr.InvalidRequest.Code},
	}
	for id, codes := range want {
		if len(got[id]) != 1 || got[id][0] != codes[0] {
			t.Errorf("id %x: codes %v, want %v", id, got[id], codes)
		}
	}
	if len(resp.Topics) != len(want) {
		t.Errorf("%d results, want %d: %+v", len(resp.Topics), len(want), resp.Topics)
	}
	if names[byID.TopicID] != "ids-del-null-name" || names[byIDEmpty.TopicID] != "ids-del-empty-name" {
		t.Errorf("deleted topics answered with names %v", names)
	}
	for _, name := range []string{"ids-del-null-name", "ids-del-empty-name"} {
		if mt := e.metadata(t, name); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("%s after delete by id: %+v", name, mt)
		}
	}
	if mt := e.metadata(t, "ids-del-both"); mt.ErrorCode != 0 {
		t.Errorf("ids-del-both must survive an entry naming it by name and id: %+v", mt)
	}
}

// describeTopicPartitions sends one DescribeTopicPartitions request.
func (e *adminEnv) describeTopicPartitions(t *testing.T, topics []string, limit int32, cursor *kmsg.DescribeTopicPartitionsResponseNextCursor) *kmsg.DescribeTopicPartitionsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = limit
	for _, name := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		req.Topics = append(req.Topics, rt)
	}
	if cursor != nil {
		req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: cursor.Topic, Partition: cursor.Partition}
	}
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (e *adminEnv) testDescribeTopicPartitions(t *testing.T) {
	sizes := map[string]int32{"dtp-a": 5, "dtp-b": 3, "dtp-c": 4}
	md := map[string]kmsg.MetadataResponseTopic{}
	for name, n := range sizes {
		md[name] = e.createTopic(t, name, n)
	}
	requested := []string{"dtp-c", "dtp-missing", "dtp-a", "dtp-b", "dtp-a"}
	for _, limit := range []int32{1, 2, 3, 2000} {
		seen := map[string]map[int32]int{}
		missing := 0
		var cursor *kmsg.DescribeTopicPartitionsResponseNextCursor
		pages := 0
		for {
			resp := e.describeTopicPartitions(t, requested, limit, cursor)
			pages++
			n := 0
			for _, rt := range resp.Topics {
				if rt.Topic == nil {
					t.Fatalf("topic without a name: %+v", rt)
				}
				if *rt.Topic == "dtp-missing" {
					if rt.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(rt.Partitions) != 0 {
						t.Fatalf("dtp-missing: %+v", rt)
					}
					missing++
					continue
				}
				want := md[*rt.Topic]
				if rt.ErrorCode != 0 || rt.TopicID != want.TopicID || rt.IsInternal || rt.AuthorizedOperations == -2147483648 {
					t.Fatalf("limit %d: topic %+v", limit, rt)
				}
				if seen[*rt.Topic] == nil {
					seen[*rt.Topic] = map[int32]int{}
				}
				for _, p := range rt.Partitions {
					n++
					seen[*rt.Topic][p.Partition]++
					mp := want.Partitions[p.Partition]
					if p.ErrorCode != 0 || p.LeaderID != mp.Leader || len(p.Replicas) != 3 || len(p.ISR) != 3 ||
						len(p.EligibleLeaderReplicas) != 0 || len(p.OfflineReplicas) != 0 || p.LeaderEpoch < 0 {
						t.Fatalf("limit %d: %s partition %+v, metadata says %+v", limit, *rt.Topic, p, mp)
					}
				}
			}
			if n > int(limit) {
				t.Fatalf("limit %d: a page held %d partitions", limit, n)
			}
			cursor = resp.NextCursor
			if cursor == nil {
				break
			}
			if pages > 20 {
				t.Fatalf("limit %d: still paging after %d pages", limit, pages)
			}
		}
		for name, n := range sizes {
			for p := int32(0); p < n; p++ {
				if seen[name][p] != 1 {
					t.Fatalf("limit %d: %s-%d described %d times", limit, name, p, seen[name][p])
				}
			}
			if len(seen[name]) != int(n) {
				t.Fatalf("limit %d: %s partitions %v", limit, name, seen[name])
			}
		}
		if missing != 1 {
			t.Fatalf("limit %d: the unknown topic answered %d times", limit, missing)
		}
	}

	// Every topic (no list), paged one partition at a time, names each
	// partition of the dtp topics exactly once among the others.
	count := map[string]int{}
	var cursor *kmsg.DescribeTopicPartitionsResponseNextCursor
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("all topics: paging does not end")
		}
		resp := e.describeTopicPartitions(t, nil, 1, cursor)
		for _, rt := range resp.Topics {
			count[*rt.Topic] += len(rt.Partitions)
		}
		if cursor = resp.NextCursor; cursor == nil {
			break
		}
	}
	for name, n := range sizes {
		if count[name] != int(n) {
			t.Fatalf("all topics: %s described %d partitions, has %d", name, count[name], n)
		}
	}

	// A cursor must name one of the topics asked for.
	resp := e.describeTopicPartitions(t, []string{"dtp-a"}, 10, &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: "dtp-b"})
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("cursor outside the topics: %+v", resp.Topics)
	}
}

// describeLogDirs asks one broker about the given topic (nil: all), at
// the highest version up to max.
func (e *adminEnv) describeLogDirs(t *testing.T, node int32, max int16, topics []kmsg.DescribeLogDirsRequestTopic) kmsg.DescribeLogDirsResponseDir {
	t.Helper()
	cl := e.cl
	if max < 4 {
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(35, max)
		var err error
		if cl, err = kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.MaxVersions(versions)); err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
	}
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Topics = topics
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl.Broker(int(node)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 || resp.Dirs[0].ErrorCode != 0 {
		t.Fatalf("broker %d: %+v", node, resp)
	}
	return resp.Dirs[0]
}

func (e *adminEnv) testDescribeLogDirs(t *testing.T) {
	mt := e.createTopic(t, "logdirs", 2)
	filter := []kmsg.DescribeLogDirsRequestTopic{{Topic: "logdirs", Partitions: []int32{0, 1}}}
	sizes := func(node int32) map[int32]kmsg.DescribeLogDirsResponseDirTopicPartition {
		dir := e.describeLogDirs(t, node, 4, filter)
		out := map[int32]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		for _, rt := range dir.Topics {
			if rt.Topic != "logdirs" {
				t.Fatalf("broker %d: filtered to logdirs, got %s", node, rt.Topic)
			}
			for _, p := range rt.Partitions {
				out[p.Partition] = p
			}
		}
		return out
	}
	before := map[int32]int64{}
	for i := range e.c.Brokers {
		node := int32(i + 1)
		dir := e.describeLogDirs(t, node, 4, filter)
		if want := e.c.Configs[i].DataDir; dir.Dir != want {
			t.Fatalf("broker %d: log dir %q, want %q", node, dir.Dir, want)
		}
		if dir.TotalBytes <= 0 || dir.UsableBytes <= 0 || dir.UsableBytes > dir.TotalBytes {
			t.Fatalf("broker %d: volume total %d usable %d", node, dir.TotalBytes, dir.UsableBytes)
		}
		if v1 := e.describeLogDirs(t, node, 1, filter); v1.TotalBytes != -1 || v1.UsableBytes != -1 || v1.Dir != dir.Dir || len(v1.Topics) != 1 {
			t.Fatalf("broker %d: v1 answer %+v", node, v1)
		}
		got := sizes(node)
		if len(got) != 2 {
			t.Fatalf("broker %d: partitions %+v", node, got)
		}
		before[node] = got[0].Size
	}

	value := make([]byte, 1000)
	var recs []*kgo.Record
	for range 200 {
		recs = append(recs, &kgo.Record{Topic: "logdirs", Partition: 0, Value: value})
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctxT(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Every replica applies the records; each broker's answer then matches
	// the size its replica reports, and no replica lags.
	leader := mt.Partitions[0].Leader
	deadline := time.Now().Add(10 * time.Second)
	for i, b := range e.c.Brokers {
		node := int32(i + 1)
		for {
			got := sizes(node)[0]
			rep, ok := b.Node.PartitionByName("logdirs", 0)
			if !ok {
				t.Fatalf("broker %d hosts no replica of logdirs-0", node)
			}
			if got.Size > before[node]+200*1000 && got.Size == rep.LogSize() && got.OffsetLag == 0 && !got.IsFuture {
				break
			}
			if got.OffsetLag < 0 || (node == leader && got.OffsetLag != 0) {
				t.Fatalf("broker %d (leader %d): offset lag %d", node, leader, got.OffsetLag)
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %d: logdirs-0 %+v, replica size %d, before %d", node, got, rep.LogSize(), before[node])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// No filter: every partition hosted here, logdirs among them.
	dir := e.describeLogDirs(t, 1, 4, nil)
	found := 0
	for _, rt := range dir.Topics {
		if rt.Topic == "logdirs" {
			found += len(rt.Partitions)
		}
	}
	if found != 2 || len(dir.Topics) < 2 {
		t.Fatalf("unfiltered: %d logdirs partitions among %d topics", found, len(dir.Topics))
	}
}

func (e *adminEnv) testDescribeProducers(t *testing.T) {
	mt := e.createTopic(t, "producers", 1)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	start := time.Now()
	for i := range 5 {
		// One record per produce: sequences 0..4.
		if err := pcl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: "producers", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	id, epoch, err := pcl.ProducerID(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	describe := func(node int32, topic string) kmsg.DescribeProducersResponseTopicPartition {
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), e.cl.Broker(int(node)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("describe producers: %+v", resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	leader := mt.Partitions[0].Leader
	p := describe(leader, "producers")
	if p.ErrorCode != 0 || len(p.ActiveProducers) != 1 {
		t.Fatalf("leader: %+v", p)
	}
	ap := p.ActiveProducers[0]
	if ap.ProducerID != id || ap.ProducerEpoch != int32(epoch) || ap.LastSequence != 4 || ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
		t.Fatalf("producer %+v, client is id %d epoch %d", ap, id, epoch)
	}
	if ts := time.UnixMilli(ap.LastTimestamp); ts.Before(start.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("last timestamp %v outside the test's produce window from %v", ts, start)
	}
	follower := leader%3 + 1
	if p := describe(follower, "producers"); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower %d: %+v", follower, p)
	}
	if p := describe(leader, "producers-missing"); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", p)
	}
}

// electLeaders sends ElectLeaders (type 0: preferred; nil topics: all).
func (e *adminEnv) electLeaders(t *testing.T, kind int8, topics []kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersResponse {
	t.Helper()
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType, req.Topics, req.TimeoutMillis = kind, topics, 20000
	resp, err := req.RequestWith(ctxT(t, 30*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// partitionCodes maps "topic/partition" to its code in an ElectLeaders answer.
func partitionCodes(resp *kmsg.ElectLeadersResponse) map[string]int16 {
	out := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[fmt.Sprintf("%s/%d", rt.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// moveLeaderAway hands a partition's leadership from its preferred replica
// to another and waits until Metadata says so.
func (e *adminEnv) moveLeaderAway(t *testing.T, topic string, idx int32) (preferred, now int32) {
	t.Helper()
	mp := e.metadata(t, topic).Partitions[idx]
	preferred = mp.Replicas[0]
	target := mp.Replicas[1]
	b := e.c.Brokers[preferred-1]
	st := b.Node.Meta()
	shard := st.Topics[topic].Partitions[idx].ShardID
	deadline := time.Now().Add(15 * time.Second)
	for {
		if l := e.metadata(t, topic).Partitions[idx].Leader; l != preferred {
			e.waitLeaderKnown(t, shard, uint64(l))
			return preferred, l
		}
		if err := b.Node.TransferLeadership(shard, uint64(target)); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-%d: leadership does not leave broker %d", topic, idx, preferred)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLeaderKnown waits until every broker's own view names leader as the
// shard's: ElectLeaders answers from the view of the broker it reaches,
// which may learn of a new leader a Raft heartbeat after Metadata names it.
func (e *adminEnv) waitLeaderKnown(t *testing.T, shard, leader uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, b := range e.c.Brokers {
		for {
			if l, _, ok := b.Node.Leader(shard); ok && l == leader {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %d does not see %d as shard %d's leader", b.Node.ID(), leader, shard)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitLeader waits briefly for Metadata to name the leader an election
// answered for: the broker asked may learn of it a heartbeat later.
func (e *adminEnv) waitLeader(t *testing.T, topic string, idx, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := e.metadata(t, topic).Partitions[idx].Leader
		if l == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-%d led by %d after ElectLeaders, preferred is %d", topic, idx, l, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *adminEnv) testElectLeaders(t *testing.T) {
	mt := e.createTopic(t, "elect", 3)
	for _, p := range mt.Partitions {
		if p.Leader != p.Replicas[0] {
			t.Fatalf("elect-%d: new topic led by %d, not its preferred %d", p.Partition, p.Leader, p.Replicas[0])
		}
	}
	one := []kmsg.ElectLeadersRequestTopic{{Topic: "elect", Partitions: []int32{0, 1, 2, 9}}, {Topic: "elect-missing", Partitions: []int32{0}}}

	preferred, away := e.moveLeaderAway(t, "elect", 0)
	resp := e.electLeaders(t, 0, one)
	want := map[string]int16{
		"elect/0":         0,
		"elect/1":         kerr.ElectionNotNeeded.Code,
		"elect/2":         kerr.ElectionNotNeeded.Code,
		"elect/9":         kerr.UnknownTopicOrPartition.Code,
		"elect-missing/0": kerr.UnknownTopicOrPartition.Code,
	}
	if got := partitionCodes(resp); resp.ErrorCode != 0 || !equalCodes(got, want) {
		t.Fatalf("elect with elect-0 led by %d: %v, want %v", away, got, want)
	}
	e.waitLeader(t, "elect", 0, preferred)
	if got := partitionCodes(e.electLeaders(t, 0, one)); got["elect/0"] != kerr.ElectionNotNeeded.Code {
		t.Fatalf("second election: %v", got)
	}

	// Every partition (null topics): only those it moved are answered.
	preferred, _ = e.moveLeaderAway(t, "elect", 1)
	resp = e.electLeaders(t, 0, nil)
	got := partitionCodes(resp)
	if got["elect/1"] != 0 || len(got) != 1 {
		t.Fatalf("election over all partitions: %v", got)
	}
	e.waitLeader(t, "elect", 1, preferred)

	// Unclean: Raft always has a leader where one can be had.
	if got := partitionCodes(e.electLeaders(t, 1, one)); got["elect/0"] != kerr.ElectionNotNeeded.Code || got["elect/9"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unclean election: %v", got)
	}
	if resp := e.electLeaders(t, 7, one); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown election type: %+v", resp)
	}

	// A stopped preferred replica cannot take its leadership back.
	preferred, _ = e.moveLeaderAway(t, "elect", 2)
	e.c.StopBroker(int(preferred - 1))
	if got := partitionCodes(e.electLeaders(t, 0, []kmsg.ElectLeadersRequestTopic{{Topic: "elect", Partitions: []int32{2}}})); got["elect/2"] != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred replica %d stopped: %v", preferred, got)
	}
}

func equalCodes(a, b map[string]int16) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// createAssigned sends CreateTopics with a replica assignment (partition
// index to broker ids) and returns the topic's error code.
func (e *adminEnv) createAssigned(t *testing.T, name string, partitions, rf int32, validateOnly bool, assignment map[int32][]int32) int16 {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis, req.ValidateOnly = 30000, validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, int16(rf)
	for p, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 40*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode
}

// addAssigned sends CreatePartitions growing name to count with the new
// partitions' replica sets and returns the topic's error code.
func (e *adminEnv) addAssigned(t *testing.T, name string, count int32, sets ...[]int32) int16 {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, count
	for _, set := range sets {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = set
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 40*time.Second), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode
}

// A topic created or grown with a replica assignment (kafka-topics.sh
// --replica-assignment) gets exactly those replica sets, the first replica
// leading, and takes records; an assignment Kafka refuses is refused and
// changes nothing.
func (e *adminEnv) testManualAssignment(t *testing.T) {
	const topic = "assigned"
	want := map[int32][]int32{0: {2, 3}, 1: {3, 1}, 2: {1, 2}}
	refused := map[string]struct {
		partitions, rf int32
		assignment     map[int32][]int32
		code           int16
	}{
		"unregistered broker":  {-1, -1, map[int32][]int32{0: {1, 7}}, kerr.InvalidReplicaAssignment.Code},
		"broker twice":         {-1, -1, map[int32][]int32{0: {2, 2}}, kerr.InvalidReplicaAssignment.Code},
		"partitions with gap":  {-1, -1, map[int32][]int32{0: {1, 2}, 2: {2, 3}}, kerr.InvalidReplicaAssignment.Code},
		"unequal sets":         {-1, -1, map[int32][]int32{0: {1, 2}, 1: {2}}, kerr.InvalidReplicaAssignment.Code},
		"count and assignment": {3, -1, map[int32][]int32{0: {1, 2}}, kerr.InvalidRequest.Code},
	}
	for name, c := range refused {
		for _, validateOnly := range []bool{true, false} {
			if code := e.createAssigned(t, topic, c.partitions, c.rf, validateOnly, c.assignment); code != c.code {
				t.Errorf("%s (validate only %v): code %d (%v), want %d", name, validateOnly, code, kerr.ErrorForCode(code), c.code)
			}
		}
	}
	if code := e.createAssigned(t, topic, -1, -1, true, want); code != 0 {
		t.Fatalf("validate only: %v", kerr.ErrorForCode(code))
	}
	if mt := e.metadata(t, topic); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("refused and validate-only requests created the topic: %+v", mt)
	}
	if code := e.createAssigned(t, topic, -1, -1, false, want); code != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(code))
	}
	for _, c := range []struct {
		count int32
		sets  [][]int32
		code  int16
	}{
		{5, [][]int32{{3, 2}}, kerr.InvalidReplicaAssignment.Code},
		{4, [][]int32{{1, 2, 3}}, kerr.InvalidReplicaAssignment.Code},
		{4, [][]int32{{3, 2}}, 0},
	} {
		if code := e.addAssigned(t, topic, c.count, c.sets...); code != c.code {
			t.Errorf("grow to %d with %v: code %d (%v), want %d", c.count, c.sets, code, kerr.ErrorForCode(code), c.code)
		}
	}
	want[3] = []int32{3, 2}
	ctx := ctxT(t, 30*time.Second)
	for {
		mt := e.metadata(t, topic)
		ok := mt.ErrorCode == 0 && len(mt.Partitions) == len(want)
		for _, p := range mt.Partitions {
			ok = ok && p.ErrorCode == 0 && slices.Equal(p.Replicas, want[p.Partition]) && p.Leader == want[p.Partition][0]
		}
		if ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("partitions are not the assigned replica sets led by their first replica: %+v, want %v", mt.Partitions, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	for p := range int32(4) {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint("assigned ", p))}
		if err := pcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
}
