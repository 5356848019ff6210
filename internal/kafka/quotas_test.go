package kafka_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestClientQuotas sets client quotas with AlterClientQuotas, reads them
// back with DescribeClientQuotas from every broker, and holds real
// franz-go producers and consumers to producer_byte_rate and
// consumer_byte_rate.
func TestClientQuotas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	env := newAdminEnv(t, nil)
	t.Run("AlterDescribe", env.testQuotaAlterDescribe)
	t.Run("ProduceAndFetch", env.testQuotaThrottles)
	t.Run("ControllerMutationRate", env.testMutationQuota)
	t.Run("RequestPercentage", env.testRequestQuota)
}

func quotaEntity(kv ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(kv); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: kv[i]}
		if kv[i+1] != "<default>" {
			c.Name = &kv[i+1]
		}
		e = append(e, c)
	}
	return e
}

func setQuota(key string, v float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: v}
}

// describedQuotas prints what a describe returned, one sorted line per
// entity, to compare with a want list.
func describedQuotas(d kadm.DescribedClientQuotas) []string {
	var out []string
	for _, q := range d {
		ents := make([]string, len(q.Entity))
		for i, c := range q.Entity {
			ents[i] = c.String()
		}
		slices.Sort(ents)
		vals := make([]string, len(q.Values))
		for i, v := range q.Values {
			vals[i] = fmt.Sprintf("%s=%.0f", v.Key, v.Value)
		}
		slices.Sort(vals)
		out = append(out, strings.Join(ents, ",")+" "+strings.Join(vals, ","))
	}
	slices.Sort(out)
	return out
}

func (e *adminEnv) testQuotaAlterDescribe(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	altered, err := e.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("user", "alice"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1024)}},
		{Entity: quotaEntity("user", "alice", "client-id", "c1"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 4096), setQuota("consumer_byte_rate", 8192)}},
		{Entity: quotaEntity("client-id", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", 2048)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("alter %v: %v", a.Entity, a.Err)
		}
	}
	// Validation only: nothing is stored.
	validated, err := e.adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
	})
	if err != nil || validated[0].Err != nil {
		t.Fatalf("validate only: %v %v", err, validated)
	}
	alice, c1 := "alice", "c1"
	cases := []struct {
		name   string
		strict bool
		filter []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"all", false, nil, []string{
			"client-id=<default> consumer_byte_rate=2048",
			"client-id=c1,user=alice consumer_byte_rate=8192,producer_byte_rate=4096",
			"user=alice producer_byte_rate=1024"}},
		{"strict, no filter", true, nil, nil},
		{"user alice", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &alice}}, []string{
			"client-id=c1,user=alice consumer_byte_rate=8192,producer_byte_rate=4096",
			"user=alice producer_byte_rate=1024"}},
		{"user alice only", true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &alice}}, []string{
			"user=alice producer_byte_rate=1024"}},
		{"any client id", false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}}, []string{
			"client-id=<default> consumer_byte_rate=2048",
			"client-id=c1,user=alice consumer_byte_rate=8192,producer_byte_rate=4096"}},
		{"default client id", false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 1}}, []string{
			"client-id=<default> consumer_byte_rate=2048"}},
		{"alice and c1", true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &alice}, {Type: "client-id", MatchName: &c1}}, []string{
			"client-id=c1,user=alice consumer_byte_rate=8192,producer_byte_rate=4096"}},
		{"ip", false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 2}}, nil},
	}
	for _, c := range cases {
		got, err := e.adm.DescribeClientQuotas(ctx, c.strict, c.filter)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if lines := describedQuotas(got); !slices.Equal(lines, c.want) {
			t.Errorf("%s: described\n  %q\nwant\n  %q", c.name, lines, c.want)
		}
	}
	// Every broker answers the same.
	for _, cfg := range e.c.Configs {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		resp, err := req.RequestWith(ctx, e.cl.Broker(int(cfg.NodeID)))
		if err != nil || resp.ErrorCode != 0 || len(resp.Entries) != 3 {
			t.Errorf("broker %d: %v, %+v", cfg.NodeID, err, resp)
		}
	}
	// Bad filters fail the whole request, as Kafka's.
	for name, filter := range map[string]kmsg.DescribeClientQuotasRequestComponent{
		"exact without a name": {EntityType: "user", MatchType: 0},
		"default with a name":  {EntityType: "user", MatchType: 1, Match: &alice},
		"unknown match type":   {EntityType: "user", MatchType: 7},
		"unknown entity type":  {EntityType: "group", MatchType: 2},
		"an empty entity type": {EntityType: "", MatchType: 2},
	} {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Components = []kmsg.DescribeClientQuotasRequestComponent{filter}
		resp, err := req.RequestWith(ctx, e.cl.Broker(int(e.c.Configs[0].NodeID)))
		want := kerr.InvalidRequest.Code
		if filter.EntityType == "group" {
			want = kerr.UnsupportedVersion.Code
		}
		if err != nil || resp.ErrorCode != want || len(resp.Entries) != 0 {
			t.Errorf("%s: %v, error %d, want %d", name, err, resp.ErrorCode, want)
		}
	}
	// Bad alterations fail their entry only, with nothing of it applied.
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("user", "carol"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 10), setQuota("fetch_rate", 1)}},
		{Entity: quotaEntity("user", "carol", "client-id", "x"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 10.5)}},
		{Entity: quotaEntity("user", "carol", "user", "dave"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 10)}},
		{Entity: quotaEntity("user", ""), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 10)}},
		{Entity: quotaEntity("ip", "127.0.0.1", "user", "carol"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 10)}},
		{Entity: quotaEntity("client-id", "y"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 0)}},
		{Entity: quotaEntity("client-id", "z"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 0)}},
		{Entity: quotaEntity("client-id", "w"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 5), setQuota("producer_byte_rate", 6)}},
		{Entity: quotaEntity("client-id", "ok"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 5)}},
	}
	results, err := e.adm.AlterClientQuotas(ctx, bad)
	if err != nil || len(results) != len(bad) {
		t.Fatalf("bad alterations: %v, %d results", err, len(results))
	}
	for i, r := range results {
		last := i == len(bad)-1
		if last != (r.Err == nil) || (!last && !errorsIs(r.Err, kerr.InvalidRequest)) {
			t.Errorf("entry %v: %v", bad[i].Entity, r.Err)
		}
	}
	got, err := e.adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lines := describedQuotas(got); len(lines) != 4 || !slices.Contains(lines, "client-id=ok producer_byte_rate=5") {
		t.Errorf("after the bad alterations: %q", lines)
	}
	// Removing every value removes the entity.
	removed, err := e.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "ok"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}},
		{Entity: quotaEntity("user", "alice", "client-id", "c1"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}},
	})
	if err != nil || removed[0].Err != nil || removed[1].Err != nil {
		t.Fatalf("remove: %v %v", err, removed)
	}
	got, _ = e.adm.DescribeClientQuotas(ctx, false, nil)
	if lines := describedQuotas(got); len(lines) != 3 || !slices.Contains(lines, "client-id=c1,user=alice consumer_byte_rate=8192") {
		t.Errorf("after the removals: %q", lines)
	}
}

func errorsIs(err error, want *kerr.Error) bool {
	ke, ok := err.(*kerr.Error)
	return ok && ke.Code == want.Code
}

// throttleHook sums the throttle brokers ask of a client.
type throttleHook struct {
	mu    sync.Mutex
	total time.Duration
	n     int
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.mu.Lock()
	h.total += d
	h.n++
	h.mu.Unlock()
}

func (h *throttleHook) get() (time.Duration, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.n
}

// testQuotaThrottles: a producer and a consumer under 100 KiB/s quotas
// move 1.5 MiB each. A fresh client may take ten seconds' worth at once
// (Kafka measures a new rate over ten one-second windows), so each must
// take at least the rest at the quota: (1.5 MiB - 1 MiB) / 100 KiB/s,
// about 5 s, less a second for the window's edges; and each is told to
// wait. Nothing is lost or read twice.
func (e *adminEnv) testQuotaThrottles(t *testing.T) {
	const rate, records, size = 100 << 10, 150, 10 << 10
	ctx := ctxT(t, 90*time.Second)
	topic := "quota-throttle"
	e.createTopic(t, topic, 1)
	altered, err := e.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "slow-producer"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", rate)}},
		{Entity: quotaEntity("client-id", "slow-consumer"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", rate)}},
	})
	if err != nil || altered[0].Err != nil || altered[1].Err != nil {
		t.Fatalf("alter: %v %v", err, altered)
	}
	minimum := time.Duration(float64(records*size-10*rate)/rate*float64(time.Second)) - time.Second

	var ph throttleHook
	p, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.ClientID("slow-producer"), kgo.WithHooks(&ph),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, size) // random: the client compresses
	rand.Read(value)
	start := time.Now()
	// Asynchronously: the client pipelines up to five requests, each held
	// by the throttle of the one before.
	var failed error
	var once sync.Once
	for i := range records {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "%d", i), Value: value}
		p.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				once.Do(func() { failed = err })
			}
		})
	}
	if err := p.Flush(ctx); err != nil || failed != nil {
		t.Fatalf("produce: %v %v", err, failed)
	}
	took := time.Since(start)
	throttled, n := ph.get()
	t.Logf("produced %d x %d B in %v under %d B/s; told to wait %d times, %v in all", records, size, took, rate, n, throttled)
	if took < minimum || n == 0 {
		t.Errorf("producer took %v (at least %v at the quota) and was throttled %d times", took, minimum, n)
	}

	var ch throttleHook
	c, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.ClientID("slow-consumer"), kgo.WithHooks(&ch),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start = time.Now()
	next := 0
	for next < records {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d records: %v", next, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != fmt.Sprint(next) {
				t.Fatalf("record %d has key %s", next, r.Key)
			}
			next++
		})
	}
	took = time.Since(start)
	throttled, n = ch.get()
	t.Logf("consumed %d x %d B in %v under %d B/s; told to wait %d times, %v in all", records, size, took, rate, n, throttled)
	if took < minimum || n == 0 {
		t.Errorf("consumer took %v (at least %v at the quota) and was throttled %d times", took, minimum, n)
	}
}

// testMutationQuota: under controller_mutation_rate 1 a client may create
// eleven seconds' worth of partitions and one request past that; then
// CreateTopics v6+, CreatePartitions v3+ and DeleteTopics v5+ refuse with
// THROTTLING_QUOTA_EXCEEDED until the deficit refills, while an older
// CreateTopics is accepted and throttled.
func (e *adminEnv) testMutationQuota(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	altered, err := e.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "slow-admin"), Ops: []kadm.AlterClientQuotaOp{setQuota("controller_mutation_rate", 1)}},
		{Entity: quotaEntity("client-id", "slow-old-admin"), Ops: []kadm.AlterClientQuotaOp{setQuota("controller_mutation_rate", 1)}},
	})
	if err != nil || altered[0].Err != nil || altered[1].Err != nil {
		t.Fatalf("alter: %v %v", err, altered)
	}
	client := func(id string, createTopicsMax int16) *kgo.Client {
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(19, createTopicsMax)
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()...), kgo.ClientID(id), kgo.MaxVersions(versions))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	create := func(cl *kgo.Client, topic string, partitions int32) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 30000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("create %s: %v %+v", topic, err, resp)
		}
		return resp
	}
	admin := client("slow-admin", 7)
	for _, topic := range []string{"mut-a", "mut-b"} {
		if resp := create(admin, topic, 10); resp.Topics[0].ErrorCode != 0 || resp.ThrottleMillis != 0 {
			t.Fatalf("create %s (10 partitions) within the quota: error %d, throttle %d ms", topic, resp.Topics[0].ErrorCode, resp.ThrottleMillis)
		}
	}
	// 11 - 20 = -9 tokens, less what refilled while the topics were
	// created: seconds before anything more.
	resp := create(admin, "mut-c", 1)
	if resp.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || resp.ThrottleMillis < 1000 || resp.ThrottleMillis > 9000 {
		t.Errorf("create mut-c in deficit: error %d, throttle %d ms, want THROTTLING_QUOTA_EXCEEDED and 1-9 s", resp.Topics[0].ErrorCode, resp.ThrottleMillis)
	}
	// The client now waits out the throttle before its next request; a
	// second client of the same id does not know and is refused too.
	admin = client("slow-admin", 7)
	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("mut-a")
	del.Topics, del.TopicNames, del.TimeoutMillis = append(del.Topics, dt), []string{"mut-a"}, 30000
	dresp, err := del.RequestWith(ctx, admin)
	if err != nil || len(dresp.Topics) != 1 || dresp.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Errorf("delete mut-a in deficit: %v %+v", err, dresp)
	}
	if md, err := e.adm.ListTopics(ctx, "mut-a", "mut-c"); err != nil || md["mut-a"].Err != nil || md["mut-c"].Err == nil {
		t.Errorf("after the refusals: %v, mut-a %v, mut-c %v (want mut-a only)", err, md["mut-a"].Err, md["mut-c"].Err)
	}
	// CreateTopics v5 cannot carry the error: taken, and throttled.
	old := client("slow-old-admin", 5)
	if resp := create(old, "mut-old", 20); resp.Topics[0].ErrorCode != 0 || resp.ThrottleMillis < 5000 {
		t.Errorf("CreateTopics v5 past the quota: error %d, throttle %d ms, want created and throttled about 9 s", resp.Topics[0].ErrorCode, resp.ThrottleMillis)
	}
}

// testRequestQuota: under request_percentage 1 (10 ms of handling a
// second, 100 ms in a fresh ten-second window) a client asking for
// metadata without pause is soon told to wait, never more than a second
// at a time; a client without the quota asking as often is not. Long
// polls count as waiting, not handling: three fetches that each wait
// 600 ms on an empty partition stay within the same quota.
func (e *adminEnv) testRequestQuota(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	topic := "request-quota"
	e.createTopic(t, topic, 1)
	altered, err := e.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "rq-busy"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 1)}},
		{Entity: quotaEntity("client-id", "rq-poll"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 1)}},
	})
	if err != nil || altered[0].Err != nil || altered[1].Err != nil {
		t.Fatalf("alter: %v %v", err, altered)
	}
	client := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Addrs()[0]), kgo.ClientID(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	// metadata asks up to n times, within 20 s, and returns how many
	// answers came and the first throttle asked for.
	metadata := func(cl *kgo.Client, n int) (int, int32) {
		deadline := time.Now().Add(20 * time.Second)
		for i := range n {
			if time.Now().After(deadline) {
				return i, 0
			}
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("metadata %d: %v", i, err)
			}
			if resp.ThrottleMillis > 0 {
				return i + 1, resp.ThrottleMillis
			}
		}
		return n, 0
	}
	if n, throttle := metadata(client("rq-free"), 2000); throttle != 0 {
		t.Errorf("a client without a request quota was throttled %d ms after %d requests", throttle, n)
	}
	n, throttle := metadata(client("rq-busy"), 100000)
	t.Logf("rq-busy throttled %d ms after %d metadata requests", throttle, n)
	if throttle <= 0 || throttle > 1000 {
		t.Errorf("rq-busy after %d requests: throttle %d ms, want 1-1000", n, throttle)
	}

	poll := client("rq-poll")
	md, err := e.adm.Metadata(ctx, topic)
	if err != nil || md.Topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	leader := poll.Broker(int(md.Topics[topic].Partitions[0].Leader))
	for i := range 3 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.ReplicaID = 600, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, md.Topics[topic].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		kresp, err := leader.Request(ctx, req)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("fetch %d: error %d", i, code)
		}
		if took := time.Since(start); took < 500*time.Millisecond || resp.ThrottleMillis != 0 {
			t.Errorf("long poll %d: answered after %v with throttle %d ms, want a 600 ms wait and none", i, took, resp.ThrottleMillis)
		}
	}
}
