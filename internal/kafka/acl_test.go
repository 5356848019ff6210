package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// aclEnv is a one-broker cluster with --authorizer acl: a PLAINTEXT
// listener (the broker's own, whose User:ANONYMOUS is a super user) and a
// SASL_PLAINTEXT one where admin (super user) and alice (ACLs only) log in.
type aclEnv struct {
	c        *testcluster.Cluster
	saslAddr string
	adminCl  *kgo.Client
	admin    *kadm.Client
}

func newACLEnv(t *testing.T) *aclEnv {
	e := &aclEnv{saslAddr: testcluster.FreeAddrs(t, 1)[0]}
	e.c = testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: testcluster.ServeFlags(t, func(cfg *config.Config) []string {
		return []string{"--listeners", cfg.Listeners[0].Name + "://" + cfg.Listeners[0].Addr() + ",SASL_PLAINTEXT://" + e.saslAddr,
			"--bootstrap-scram-users", "admin:secret,alice:alicepw", "--authorizer", "acl", "--super-users", "User:admin;User:ANONYMOUS"}
	})})
	e.adminCl = e.client(t, "admin", "secret")
	e.admin = kadm.NewClient(e.adminCl)
	return e
}

func (e *aclEnv) client(t *testing.T, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.saslAddr), kgo.RequestRetries(2),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// grant creates ACLs through kadm as admin and fails the test on any error.
func (e *aclEnv) grant(t *testing.T, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := e.admin.CreateACLs(ctx, b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
}

// TestACLs: a restricted SCRAM user is refused produce, consume, group,
// create, delete and ACL requests with Kafka's codes, and allowed once an
// ACL grants each; ACLs are created, described and deleted with kadm.
func TestACLs(t *testing.T) {
	t.Parallel()
	e := newACLEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "acl-orders"); err != nil {
		t.Fatalf("admin creates a topic: %v", err)
	}
	t.Run("admin APIs", func(t *testing.T) { e.testAdminAPIs(ctx, t) })
	t.Run("restricted user", func(t *testing.T) { e.testRestricted(ctx, t) })
	t.Run("kcat", func(t *testing.T) { e.testKcat(ctx, t) })
	t.Run("transactions", func(t *testing.T) { e.testTransactions(ctx, t) })
}

// testTransactions: a transactional producer needs WRITE on its
// transactional id; once granted, its commit goes through, which needs the
// coordinator's markers (sent as the broker's own, super-user, principal).
func (e *aclEnv) testTransactions(ctx context.Context, t *testing.T) {
	e.grant(t, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics("txn-acl").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite, kadm.OpRead))
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "txn-acl"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bobpw"}}); err != nil {
		t.Fatal(err)
	}
	commit := func() error {
		p := e.client(t, "bob", "bobpw", kgo.TransactionalID("bob-tx"), kgo.DefaultProduceTopic("txn-acl"))
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := p.BeginTransaction(); err != nil {
			return err
		}
		if err := p.ProduceSync(tctx, &kgo.Record{Value: []byte("in a transaction")}).FirstErr(); err != nil {
			return err
		}
		return p.EndTransaction(tctx, kgo.TryCommit)
	}
	if err := commit(); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("transaction without WRITE on the transactional id: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
	e.grant(t, kadm.NewACLs().Allow("User:bob").AllowHosts().TransactionalIDs("bob-tx").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	if err := commit(); err != nil {
		t.Fatalf("transaction with WRITE on the transactional id: %v", err)
	}
	c := e.client(t, "bob", "bobpw", kgo.ConsumeTopics("txn-acl"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fs := c.PollRecords(cctx, 1)
	if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "in a transaction" {
		t.Errorf("read_committed after the commit: %d records, errors %v", fs.NumRecords(), fs.Errors())
	}

	// TxnOffsetCommit answers per topic, as Kafka: a topic bob may not
	// READ is TOPIC_AUTHORIZATION_FAILED, the others are committed.
	e.grant(t, kadm.NewACLs().Allow("User:bob").AllowHosts().Groups("bob-group").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	p := e.client(t, "bob", "bobpw", kgo.TransactionalID("bob-tx"), kgo.DefaultProduceTopic("txn-acl"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(cctx, &kgo.Record{Value: []byte("with offsets")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := p.ProducerID(cctx)
	if err != nil {
		t.Fatal(err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "bob-tx", pid, epoch, "bob-group"
	if resp, err := add.RequestWith(cctx, p); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %v", resp, err)
	}
	commitOffsets := kmsg.NewPtrTxnOffsetCommitRequest()
	commitOffsets.TransactionalID, commitOffsets.Group, commitOffsets.ProducerID, commitOffsets.ProducerEpoch, commitOffsets.Generation = "bob-tx", "bob-group", pid, epoch, -1
	for topic, offset := range map[string]int64{"txn-acl": 1, "acl-orders": 5} {
		ct := kmsg.NewTxnOffsetCommitRequestTopic()
		ct.Topic = topic
		cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		cp.Offset = offset
		ct.Partitions = append(ct.Partitions, cp)
		commitOffsets.Topics = append(commitOffsets.Topics, ct)
	}
	resp, err := commitOffsets.RequestWith(cctx, p)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.Topic] = rp.ErrorCode
		}
	}
	if want := map[string]int16{"txn-acl": 0, "acl-orders": kerr.TopicAuthorizationFailed.Code}; !maps.Equal(codes, want) {
		t.Fatalf("TxnOffsetCommit codes %v, want %v", codes, want)
	}
	if err := p.EndTransaction(cctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		offs, err := e.admin.FetchOffsets(cctx, "bob-group")
		if err != nil {
			return err
		}
		if o, ok := offs.Lookup("txn-acl", 0); !ok || o.At != 1 {
			return fmt.Errorf("bob-group txn-acl offset %+v", o)
		}
		if _, ok := offs.Lookup("acl-orders", 0); ok {
			t.Fatal("the denied topic's offset was committed")
		}
		return nil
	})
}

func (e *aclEnv) testAdminAPIs(ctx context.Context, t *testing.T) {
	e.grant(t, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics("t1").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead, kadm.OpWrite))
	e.grant(t, kadm.NewACLs().Allow("User:bob").AllowHosts().Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	desc, err := e.admin.DescribeACLs(ctx, kadm.NewACLs().Allow("User:bob").AllowHosts().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range desc {
		if d.Err != nil {
			t.Fatalf("describe: %v", d.Err)
		}
		for _, a := range d.Described {
			got = append(got, fmt.Sprintf("%s %s %s %s %s", a.Type, a.Name, a.Pattern, a.Operation, a.Permission))
		}
	}
	want := "TOPIC t1 LITERAL READ ALLOW;TOPIC t1 LITERAL WRITE ALLOW;GROUP g- PREFIXED READ ALLOW"
	if strings.Join(got, ";") != want {
		t.Errorf("described %q, want %q", got, want)
	}
	del, err := e.admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:bob").AllowHosts().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, d := range del {
		if d.Err != nil {
			t.Fatalf("delete: %v", d.Err)
		}
		deleted += len(d.Deleted)
	}
	if deleted != 3 {
		t.Errorf("deleted %d ACLs, want 3", deleted)
	}
	// The cluster resource has one name, as in Kafka.
	req := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeCluster, "other", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:bob", "*", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	req.Creations = append(req.Creations, c)
	resp, err := req.RequestWith(ctx, e.adminCl)
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("ACL on cluster %q: %+v %v, want INVALID_REQUEST", "other", resp, err)
	}
}

func (e *aclEnv) testRestricted(ctx context.Context, t *testing.T) {
	alice := e.client(t, "alice", "alicepw", kgo.DefaultProduceTopic("acl-orders"), kgo.ProducerLinger(0))
	adm := kadm.NewClient(alice)

	// Metadata shows only what alice may describe: nothing yet.
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("acl-orders") {
		t.Error("alice sees acl-orders without any ACL")
	}
	expect := func(what string, err error, want *kerr.Error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %s", what, err, want.Message)
		}
	}
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	expect("produce without WRITE", alice.ProduceSync(pctx, &kgo.Record{Value: []byte("x")}).FirstErr(), kerr.TopicAuthorizationFailed)
	pcancel()
	created, err := adm.CreateTopic(ctx, 1, 1, nil, "alice-new")
	if err == nil {
		err = created.Err
	}
	expect("create without CREATE", err, kerr.TopicAuthorizationFailed)
	deleted, err := adm.DeleteTopics(ctx, "acl-orders")
	if err == nil {
		err = deleted["acl-orders"].Err
	}
	expect("delete without DELETE", err, kerr.TopicAuthorizationFailed)
	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow("User:alice").AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err == nil && len(described) == 1 {
		err = described[0].Err
	}
	expect("describe ACLs without DESCRIBE on the cluster", err, kerr.ClusterAuthorizationFailed)
	var move kadm.AlterPartitionAssignmentsReq
	move.Assign("acl-orders", 0, []int32{1})
	_, err = adm.AlterPartitionAssignments(ctx, move)
	expect("move a partition without ALTER on the cluster", err, kerr.ClusterAuthorizationFailed)
	_, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"acl-orders": {0: {}}})
	expect("list moves without DESCRIBE on the cluster", err, kerr.ClusterAuthorizationFailed)
	td, err := e.admin.ListTopics(ctx, "acl-orders")
	if err != nil || td["acl-orders"].Err != nil {
		t.Fatalf("admin describes acl-orders: %v", err)
	}
	topicID := td["acl-orders"].ID
	fetchErr := func() error {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "acl-orders", topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, alice)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	expect("fetch without READ", fetchErr(), kerr.TopicAuthorizationFailed)
	commitErr := func() error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "billing", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "acl-orders"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch = 0, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, alice)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	expect("commit without READ on the group", commitErr(), kerr.GroupAuthorizationFailed)

	// Grants, one at a time.
	e.grant(t, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("acl-orders").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	pctx, pcancel = context.WithTimeout(ctx, 20*time.Second)
	if err := alice.ProduceSync(pctx, &kgo.Record{Value: []byte("granted")}).FirstErr(); err != nil {
		t.Errorf("produce with WRITE: %v", err)
	}
	pcancel()
	if topics, err := adm.ListTopics(ctx); err != nil || !topics.Has("acl-orders") {
		t.Errorf("WRITE implies DESCRIBE: acl-orders not listed (%v)", err)
	}
	expect("fetch with WRITE only", fetchErr(), kerr.TopicAuthorizationFailed)
	expect("commit with READ on the topic only", commitErr(), kerr.GroupAuthorizationFailed)

	e.grant(t, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("acl-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	e.grant(t, kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("billing").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	if err := fetchErr(); err != nil {
		t.Errorf("fetch with READ on the prefix: %v", err)
	}
	if err := commitErr(); err != nil {
		t.Errorf("commit with READ on group and topic: %v", err)
	}
	consumer := e.client(t, "alice", "alicepw", kgo.ConsumeTopics("acl-orders"), kgo.ConsumerGroup("billing"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	fs := consumer.PollRecords(cctx, 1)
	ccancel()
	if errs := fs.Errors(); len(errs) > 0 || fs.NumRecords() == 0 {
		t.Errorf("group consume with READ: %d records, errors %v", fs.NumRecords(), errs)
	}
	// KIP-848: subscribing by name needs DESCRIBE on every topic.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.RebalanceTimeoutMillis = "billing", 5000
	hb.SubscribedTopicNames = []string{"acl-orders", "not-yours"}
	if hbResp, err := hb.RequestWith(ctx, alice); err != nil || hbResp.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("consumer group heartbeat subscribing to not-yours: %+v %v, want TOPIC_AUTHORIZATION_FAILED", hbResp, err)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil || !slices.Contains(groups.Groups(), "billing") {
		t.Errorf("alice's groups %v (%v): billing missing", groups.Groups(), err)
	}

	e.grant(t, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpCreate, kadm.OpDelete))
	if created, err := adm.CreateTopic(ctx, 1, 1, nil, "alice-new"); err != nil || created.Err != nil {
		t.Errorf("create with CREATE on the prefix: %v %v", err, created.Err)
	}
	if deleted, err := adm.DeleteTopics(ctx, "alice-new"); err != nil || deleted["alice-new"].Err != nil {
		t.Errorf("delete with DELETE on the prefix: %v %v", err, deleted["alice-new"].Err)
	}

	// A DENY wins over the prefixed ALLOW.
	e.grant(t, kadm.NewACLs().Deny("User:alice").DenyHosts().Topics("acl-orders").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	expect("fetch with READ denied", fetchErr(), kerr.TopicAuthorizationFailed)
}

// testKcat: librdkafka as a restricted user gets "Topic authorization
// failed" producing to a topic it has no ACL for, and succeeds on one it
// may write.
func (e *aclEnv) testKcat(ctx context.Context, t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "kcat-denied"); err != nil {
		t.Fatal(err)
	}
	produce := func(topic string) (string, error) {
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(kctx, kcat, "-b", e.saslAddr, "-P", "-t", topic, "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice", "-X", "sasl.password=alicepw", "-X", "message.timeout.ms=10000")
		cmd.Stdin = strings.NewReader("from kcat\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := produce("kcat-denied"); err == nil || !strings.Contains(out, "Topic authorization failed") {
		t.Errorf("kcat produce without WRITE: %v\n%s", err, out)
	}
	if out, err := produce("acl-orders"); err != nil {
		t.Errorf("kcat produce with WRITE: %v\n%s", err, out)
	}
}
