// Package compat runs every Kafka client that installs here (Go clients
// from the module proxy, librdkafka through Debian's kcat and
// python3-confluent-kafka, Debian's kafka-python, the Apache Kafka Java
// client from clients/java/lib on Debian's JDK) through the same list of
// features against an in-process three-broker cluster, and turns the
// outcome into docs/COMPATIBILITY.md.
//
//	go test ./test/compat                              # asserts every expected cell
//	LONGBOAT_COMPAT_DOC=1 go test ./test/compat        # also rewrites docs/COMPATIBILITY.md
package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/testcluster"
)

// client is one Kafka client library driven through the features below.
// A method that the library cannot do returns an unsupported error.
type client interface {
	name() string
	// clientID is sent with every request, so that the broker-side observer
	// can attribute API versions to this client.
	clientID() string
	version() string
	caps() capabilities
	produce(ctx context.Context, topic string, o produceOpts, recs []rec) error
	consume(ctx context.Context, topic string, ranges []prange) ([]rec, error)
	// groupConsume joins group, consumes until it has want records, commits
	// what it consumed and leaves.
	groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error)
	createTopic(ctx context.Context, topic string, partitions int32) error
	// describeTopic returns the partition count and each partition's leader.
	describeTopic(ctx context.Context, topic string) (map[int32]int32, error)
	createPartitions(ctx context.Context, topic string, total int32) error
	// createAssigned creates topic with the replica sets given, one per
	// partition (kafka-topics.sh --replica-assignment); addAssigned grows
	// it to total partitions placed on sets.
	createAssigned(ctx context.Context, topic string, sets [][]int32) error
	addAssigned(ctx context.Context, topic string, total int32, sets [][]int32) error
	deleteTopic(ctx context.Context, topic string) error
	// offsetForTime is ListOffsets by timestamp: the first offset whose
	// record timestamp is at or after ts.
	offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error)

	// Topic ids are Kafka's text form of a UUID (unpadded URL-safe base64).
	describeTopicByID(ctx context.Context, id string) (name string, leaders map[int32]int32, err error)
	deleteTopicByID(ctx context.Context, id string) error
	alterTopicConfig(ctx context.Context, topic, key, value string) error
	describeTopicConfig(ctx context.Context, topic, key string) (string, error)
	// alterQuota sets (or removes) one client quota of the client id
	// entity clientID; describeQuotas returns that entity's values.
	alterQuota(ctx context.Context, clientID, key string, value float64, remove bool) error
	describeQuotas(ctx context.Context, clientID string) (map[string]float64, error)
	// describeQuorum is DescribeQuorum: the metadata quorum's leader,
	// leader epoch and voters.
	describeQuorum(ctx context.Context) (quorum, error)
	// deleteRecords deletes the records of a partition below offset before.
	deleteRecords(ctx context.Context, topic string, partition int32, before int64) error
	listGroups(ctx context.Context) ([]string, error)
	describeGroup(ctx context.Context, group string) (groupDescription, error)
	groupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error)
	alterGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error
	deleteGroup(ctx context.Context, group string) error
}

// nextGenConsumer is a client whose group consumer can run the KIP-848
// consumer protocol (group.protocol=consumer); groupConsume is as the
// client interface's.
type nextGenConsumer interface {
	groupConsume848(ctx context.Context, topic, group string, want int) ([]rec, error)
}

// quorum is what a client reports of the metadata quorum.
type quorum struct {
	Leader int32   `json:"leader"`
	Epoch  int32   `json:"epoch"`
	Voters []int32 `json:"voters"` // ascending
}

// groupDescription is what a client reports of a consumer group.
type groupDescription struct {
	State   string        `json:"state"`
	Members []groupMember `json:"members"`
}

type groupMember struct {
	ClientID string             `json:"client_id"`
	Assigned map[string][]int32 `json:"assigned"` // topic -> partitions
}

// capabilities say what a client can express, so that generated records
// stay within it (kcat reads text lines and cannot stamp records).
type capabilities struct {
	binary           bool // arbitrary bytes in keys and values, empty non-null values
	timestamps       bool // the producer sets each record's timestamp
	perRecordHeaders bool // headers differ between records of one produce call
	idempotent       bool
	codecs           []string
	keyForNullValue  bool   // a record with a null value needs a key
	emptyIsNull      bool   // the consumer cannot tell an empty value from null
	note             string // shown beside the client's version
}

type produceOpts struct {
	acks       int // 0, 1 or -1
	codec      string
	idempotent bool
}

// rec is one record as produced or consumed. A nil Key or Value is null.
type rec struct {
	Partition int32    `json:"p"`
	Offset    int64    `json:"o"`
	Key       []byte   `json:"k"`
	Value     []byte   `json:"v"`
	Headers   []header `json:"h"`
	Timestamp int64    `json:"ts"` // ms; 0 = let the client stamp it
}

type header struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

// prange is the offsets [From, To) of one partition.
type prange struct {
	Partition int32 `json:"p"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

type unsupportedError struct{ reason string }

func (e unsupportedError) Error() string { return "unsupported: " + e.reason }

func unsupported(format string, args ...any) error {
	return unsupportedError{fmt.Sprintf(format, args...)}
}

// notRunError is a feature the library can express but this suite's driver
// for it does not exercise (yet): not a claim that the client lacks it.
type notRunError struct{ reason string }

func (e notRunError) Error() string { return "not run: " + e.reason }

func notRun(format string, args ...any) error {
	return notRunError{fmt.Sprintf(format, args...)}
}

// without answers every topic-id, config, records and group row with one
// error, for a client whose driver leaves them all out; embedded, the
// client's own methods override it.
type without struct{ err error }

// fail is w.err; a zero without must not pass a row.
func (w without) fail() error {
	if w.err == nil {
		return errors.New("without: no reason given for leaving the row out")
	}
	return w.err
}

func (w without) describeTopicByID(context.Context, string) (string, map[int32]int32, error) {
	return "", nil, w.fail()
}
func (w without) deleteTopicByID(context.Context, string) error                  { return w.fail() }
func (w without) alterTopicConfig(context.Context, string, string, string) error { return w.fail() }
func (w without) describeTopicConfig(context.Context, string, string) (string, error) {
	return "", w.fail()
}
func (w without) alterQuota(context.Context, string, string, float64, bool) error { return w.fail() }
func (w without) describeQuotas(context.Context, string) (map[string]float64, error) {
	return nil, w.fail()
}
func (w without) describeQuorum(context.Context) (quorum, error)            { return quorum{}, w.fail() }
func (w without) deleteRecords(context.Context, string, int32, int64) error { return w.fail() }
func (w without) listGroups(context.Context) ([]string, error)              { return nil, w.fail() }
func (w without) describeGroup(context.Context, string) (groupDescription, error) {
	return groupDescription{}, w.fail()
}
func (w without) groupOffsets(context.Context, string, string) (map[int32]int64, error) {
	return nil, w.fail()
}
func (w without) alterGroupOffsets(context.Context, string, string, map[int32]int64) error {
	return w.fail()
}
func (w without) deleteGroup(context.Context, string) error { return w.fail() }

// outcome of one cell.
type outcome struct {
	state  string // pass, fail, n/a, not run
	detail string
}

// features in the order of the matrix rows.
var features = []struct{ id, title string }{
	{"acks0", "produce acks=0"},
	{"acks1", "produce acks=1"},
	{"acksall", "produce acks=all"},
	{"none", "codec none"},
	{"gzip", "codec gzip"},
	{"snappy", "codec snappy"},
	{"lz4", "codec lz4"},
	{"zstd", "codec zstd"},
	{"keys", "keys (incl. null)"},
	{"headers", "record headers"},
	{"nullvalues", "null values"},
	{"timestamps", "timestamps"},
	{"assign", "consume by partition"},
	{"group", "consume by group (classic protocol), commit, resume"},
	{"group848", "consume by group (KIP-848 consumer protocol), commit, resume"},
	{"create", "admin: create topic"},
	{"describe", "admin: describe topic by name"},
	{"describeid", "admin: describe topic by id"},
	{"partitions", "admin: create partitions"},
	{"assigned", "admin: create topic and partitions with a replica assignment"},
	{"configs", "admin: alter and describe topic configs"},
	{"quotas", "admin: alter and describe client quotas"},
	{"quorum", "admin: describe the metadata quorum"},
	{"delete", "admin: delete topic by name"},
	{"deleteid", "admin: delete topic by id"},
	{"idempotent", "idempotent produce"},
	{"transactions", "transactions: commit, abort, read_committed"},
	{"bytime", "offsets by timestamp"},
	{"deleterecords", "admin: delete records"},
	{"grouplist", "groups: list"},
	{"groupdescribe", "groups: describe"},
	{"groupoffsets", "groups: list offsets"},
	{"groupalter", "groups: alter offsets"},
	{"groupdelete", "groups: delete"},
}

// knownFailures lists cells that fail for a reason outside the broker's
// reach or pending other work, keyed "client/feature". A listed cell that
// passes fails the run, so the list cannot go stale.
var knownFailures = map[string]string{
	"kafka-go/groupdescribe": "client: kafka-go reads the fields of consumer subscription metadata v0 and v1 only; the " +
		"verifier's franz-go member sends v3, whose owned partitions, generation and rack (10 bytes) it rejects " +
		"(\"failed to decode member metadata ...: Got non-zero number of bytes remaining: 10\")",
}

// matrix collects outcomes and what the broker saw of each client.
type matrix struct {
	mu       sync.Mutex
	cells    map[string]map[string]outcome // client -> feature -> outcome
	software map[string]string             // client id -> KIP-511 name/version
	apis     map[string]map[int16]map[int16]bool
}

func newMatrix() *matrix {
	return &matrix{cells: map[string]map[string]outcome{}, software: map[string]string{}, apis: map[string]map[int16]map[int16]bool{}}
}

func (m *matrix) observe(r kafka.ClientRequest) {
	if !strings.HasPrefix(r.ClientID, "compat-") {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.SoftwareName != "" {
		m.software[r.ClientID] = r.SoftwareName + " " + r.SoftwareVersion
	}
	byKey := m.apis[r.ClientID]
	if byKey == nil {
		byKey = map[int16]map[int16]bool{}
		m.apis[r.ClientID] = byKey
	}
	if byKey[r.Key] == nil {
		byKey[r.Key] = map[int16]bool{}
	}
	byKey[r.Key][r.Version] = true
}

func (m *matrix) set(cl, feature string, o outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cells[cl] == nil {
		m.cells[cl] = map[string]outcome{}
	}
	m.cells[cl][feature] = o
}

// env is what every cell gets.
type env struct {
	addrs []string
	v     *verifier
}

func TestCompat(t *testing.T) {
	start := time.Now()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	m := newMatrix()
	for _, b := range c.Brokers {
		b.Kafka.SetRequestObserver(m.observe)
	}
	e := &env{addrs: c.Addrs()}
	e.v = newVerifier(t, e.addrs)
	clients := allClients(t, e.addrs)
	// Leadership changes explain a slow or failed cell: new topics elect
	// and balance their leaders, anything beyond that is an election.
	changes := func() (n int64) {
		for _, b := range c.Brokers {
			n += b.Node.Events.PartitionLeaderChanges.Load()
		}
		return n
	}
	before := changes()
	// The clients run side by side (-parallel at a time, three by default:
	// see TestMain): each names its topics and groups after itself, and
	// most of a cell is waiting on the cluster or on a client process.
	t.Run("clients", func(t *testing.T) {
		for _, cl := range clients {
			t.Run(cl.name(), func(t *testing.T) {
				t.Parallel()
				runClient(t, e, m, cl)
			})
		}
	})
	t.Logf("%d partition leadership changes seen by the brokers during the cells (topic creation and balancing included)", changes()-before)
	for _, cl := range clients {
		for _, f := range features {
			if _, ok := m.cells[cl.name()][f.id]; !ok {
				t.Errorf("%s/%s never ran", cl.name(), f.id)
			}
		}
	}
	t.Logf("compatibility run took %v", time.Since(start).Round(time.Second))
	if os.Getenv("LONGBOAT_COMPAT_DOC") != "" {
		if err := os.WriteFile("../../docs/COMPATIBILITY.md", []byte(renderDoc(clients, m)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/COMPATIBILITY.md")
	}
}

// cell runs fn as a subtest and records its outcome.
func cell(t *testing.T, m *matrix, cl client, feature string, timeout time.Duration, fn func(ctx context.Context) error) {
	t.Run(feature, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err := fn(ctx)
		reason, known := knownFailures[cl.name()+"/"+feature]
		var ue unsupportedError
		var nr notRunError
		switch {
		case err == nil:
			m.set(cl.name(), feature, outcome{state: "pass"})
		case errors.As(err, &ue):
			m.set(cl.name(), feature, outcome{state: "n/a", detail: ue.reason})
			t.Logf("n/a: %s", ue.reason)
		case errors.As(err, &nr):
			m.set(cl.name(), feature, outcome{state: "not run", detail: nr.reason})
			t.Logf("not run: %s", nr.reason)
		default:
			m.set(cl.name(), feature, outcome{state: "fail", detail: err.Error()})
			if known {
				t.Logf("known failure (%s): %v", reason, err)
			} else {
				t.Error(err)
			}
		}
		if err == nil && known {
			t.Errorf("listed as a known failure (%s) but passes now: remove it from knownFailures", reason)
		}
	})
}

func sortedKeys[K ~int16 | ~int32 | ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
