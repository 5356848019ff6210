package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
)

// shared is the one three-broker cluster of this package's client command
// tests; each test keeps to its own topics and groups. Its brokers' web
// consoles link to testGrafanaURL.
var shared = testcluster.Shared{Options: testcluster.Options{Adjust: func(c *config.Config) { c.GrafanaURL = testGrafanaURL }}}

// TestMain runs the parallel tests (the ones on the shared cluster that keep
// to their own topics and groups, and the ones with brokers of their own)
// three at a time: they mostly wait on brokers and processes. Left
// sequential, before them: TestClusterStatus and TestConsoleInBrowser, which
// compare the whole shared cluster's partition counts, and the dev tests,
// which use dev's fixed ports. An explicit -parallel wins.
func TestMain(m *testing.M) {
	testutil.DefaultParallel(3)
	code := m.Run()
	shared.Close()
	if longboatBinary.dir != "" {
		os.RemoveAll(longboatBinary.dir)
	}
	os.Exit(code)
}

func discard() *stdio { return &stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard} }

// lb runs a longboat command line in-process, as main does, with stdin.
func lb(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return out.String(), errb.String(), code
}

// lbOK runs a command that must succeed and returns its standard output.
func lbOK(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := lb(t, stdin, args...)
	if code != 0 {
		t.Fatalf("longboat %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// lbJSON runs a command with --output json and decodes its output into v,
// zeroed first so that nothing of an earlier answer remains.
func lbJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := lbOK(t, "", append(args, "--output", "json")...)
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("longboat %s: %v in %q", strings.Join(args, " "), err, out)
	}
}

// lbFails runs a command that must exit with code and say want on stderr.
func lbFails(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	out, errs, got := lb(t, "", args...)
	if got != code || !strings.Contains(errs, want) {
		t.Fatalf("longboat %s: exit %d, stderr %q (stdout %q); want exit %d and %q", strings.Join(args, " "), got, errs, out, code, want)
	}
}

// table splits aligned output into its header and rows of fields.
func table(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		t.Fatalf("no table in %q", out)
	}
	for _, l := range lines[1:] {
		if l == "" {
			break // the next table
		}
		rows = append(rows, strings.Fields(l))
	}
	return strings.Fields(lines[0]), rows
}

func wantHeader(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("header %v, want %v", got, want)
	}
}

func bootstrap(t *testing.T) string { return strings.Join(shared.Get(t).Addrs(), ",") }

func TestTopicsCommands(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-topics", "--partitions", "3", "--replication-factor", "3")

	_, rows := table(t, lbOK(t, "", "topics", "list", "--brokers", bs))
	found := false
	for _, r := range rows {
		if r[0] == "cli-topics" {
			found = r[1] == "3" && r[2] == "3"
		}
	}
	if !found {
		t.Fatalf("topics list rows %v: no cli-topics with 3 partitions, RF 3", rows)
	}
	var listed []topicSummary
	lbJSON(t, &listed, "topics", "list", "--bootstrap-server", bs)
	if !containsTopic(listed, "cli-topics", 3) {
		t.Fatalf("topics list json %+v: no cli-topics with 3 partitions", listed)
	}

	lbOK(t, "a\nb\nc\nd\n", "produce", "--bootstrap-server", bs, "--topic", "cli-topics", "--partition", "1")
	header, rows := table(t, lbOK(t, "", "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-topics"))
	wantHeader(t, header, "TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "LOG-END", "ERROR")
	if len(rows) != 3 {
		t.Fatalf("describe: %d partition rows, want 3: %v", len(rows), rows)
	}
	for i, r := range rows {
		if r[1] != fmt.Sprint(i) || r[2] == "none" || len(strings.Split(r[4], ",")) != 3 {
			t.Fatalf("describe row %v: want partition %d with a leader and 3 replicas", r, i)
		}
	}
	if rows[1][6] != "0" || rows[1][7] != "4" {
		t.Fatalf("describe partition 1 %v: want log start 0, end 4", rows[1])
	}

	out := lbOK(t, "", "topics", "alter-config", "--bootstrap-server", bs, "--topic", "cli-topics", "--add-config", "retention.ms=3600000,cleanup.policy=[compact,delete]")
	if !strings.Contains(out, "retention.ms") || !strings.Contains(out, "compact,delete") {
		t.Fatalf("alter-config printed %q, want the new configs", out)
	}
	var desc struct {
		Partitions []partitionRow `json:"partitions"`
		Configs    []configRow    `json:"configs"`
	}
	lbJSON(t, &desc, "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-topics")
	if len(desc.Partitions) != 3 || desc.Partitions[1].LogEnd != 4 || len(desc.Partitions[1].ISR) != 3 {
		t.Fatalf("describe json partitions %+v", desc.Partitions)
	}
	if !hasConfig(desc.Configs, "retention.ms", "3600000") {
		t.Fatalf("describe json configs %+v: no retention.ms=3600000", desc.Configs)
	}

	lbOK(t, "", "topics", "add-partitions", "--bootstrap-server", bs, "--topic", "cli-topics", "--partitions", "4")
	lbJSON(t, &desc, "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-topics")
	if len(desc.Partitions) != 4 {
		t.Fatalf("after add-partitions: %d partitions, want 4", len(desc.Partitions))
	}

	var deleted []deletedRow
	lbJSON(t, &deleted, "topics", "delete-records", "--bootstrap-server", bs, "--topic", "cli-topics:1", "--offset", "3")
	if len(deleted) != 1 || deleted[0].Partition != 1 || deleted[0].LowWatermark != 3 {
		t.Fatalf("delete-records: %+v, want partition 1 low watermark 3", deleted)
	}
	lbJSON(t, &desc, "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-topics")
	if desc.Partitions[1].LogStart != 3 {
		t.Fatalf("after delete-records: log start %d, want 3", desc.Partitions[1].LogStart)
	}

	lbFails(t, 1, "already exists", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-topics")
	lbFails(t, 1, "partition 9", "topics", "delete-records", "--bootstrap-server", bs, "--topic", "cli-topics:9", "--offset", "end")
	lbOK(t, "", "topics", "delete", "--bootstrap-server", bs, "--topic", "cli-topics")
	lbFails(t, 1, "topics list", "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-topics")

	lbFails(t, 2, "--topic is required", "topics", "describe", "--bootstrap-server", bs)
	lbFails(t, 2, `unknown action "frobnicate"`, "topics", "frobnicate")
	lbFails(t, 2, "--output", "topics", "list", "--bootstrap-server", bs, "--output", "yaml")
	lbFails(t, 1, "cannot reach", "topics", "list", "--bootstrap-server", "127.0.0.1:1", "--timeout", "2s")
}

// --replica-assignment places a new topic's partitions, and partitions
// added later, on the brokers named, the first of each leading.
func TestTopicsReplicaAssignment(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	out := lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-assigned", "--replica-assignment", "2:3,3:1")
	if !strings.Contains(out, "2 partitions, replication factor 2") {
		t.Fatalf("create printed %q, want 2 partitions, replication factor 2", out)
	}
	lbOK(t, "", "topics", "add-partitions", "--bootstrap-server", bs, "--topic", "cli-assigned", "--partitions", "3", "--replica-assignment", "1:2")
	want := [][]int32{{2, 3}, {3, 1}, {1, 2}}
	var desc struct {
		Partitions []partitionRow `json:"partitions"`
	}
	lbJSON(t, &desc, "topics", "describe", "--bootstrap-server", bs, "--topic", "cli-assigned")
	if len(desc.Partitions) != len(want) {
		t.Fatalf("describe: %+v, want replica sets %v", desc.Partitions, want)
	}
	for i, p := range desc.Partitions {
		if !slices.Equal(p.Replicas, want[i]) {
			t.Fatalf("partition %d: replicas %v, want %v", i, p.Replicas, want[i])
		}
	}
	lbFails(t, 1, "not registered", "topics", "add-partitions", "--bootstrap-server", bs, "--topic", "cli-assigned", "--partitions", "4", "--replica-assignment", "1:7")
	lbFails(t, 1, "adding 2 partitions but 1 assignments", "topics", "add-partitions", "--bootstrap-server", bs, "--topic", "cli-assigned", "--partitions", "5", "--replica-assignment", "1:2")
	lbFails(t, 2, "without --partitions", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-assigned2", "--partitions", "2", "--replica-assignment", "1:2,2:3")
	lbFails(t, 2, `"x" is not a non-negative number`, "topics", "create", "--bootstrap-server", bs, "--topic", "cli-assigned2", "--replica-assignment", "1:x")
}

func containsTopic(ts []topicSummary, name string, partitions int) bool {
	for _, s := range ts {
		if s.Topic == name && s.Partitions == partitions && s.ReplicationFactor == 3 {
			return true
		}
	}
	return false
}

func hasConfig(cs []configRow, name, value string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value == value {
			return true
		}
	}
	return false
}

func TestConfigsCommands(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-configs", "--partitions", "1")
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs", "--add-config", "retention.ms=60000,max.message.bytes=2048")
	header, rows := table(t, lbOK(t, "", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs"))
	wantHeader(t, header, "NAME", "VALUE", "SOURCE")
	got := map[string]string{}
	for _, r := range rows {
		got[r[0]] = r[1] + " " + r[2]
	}
	if got["retention.ms"] != "60000 DYNAMIC_TOPIC_CONFIG" || got["max.message.bytes"] != "2048 DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("configs describe rows %v: want the two altered configs", rows)
	}
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs", "--delete-config", "max.message.bytes")
	var doc struct {
		Configs []configRow `json:"configs"`
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs", "--all")
	if !hasConfig(doc.Configs, "retention.ms", "60000") || hasConfig(doc.Configs, "max.message.bytes", "2048") || len(doc.Configs) < 10 {
		t.Fatalf("configs describe --all after deleting max.message.bytes: %+v", doc.Configs)
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", "1", "--all")
	if len(doc.Configs) == 0 {
		t.Fatal("configs describe of broker 1: no configs")
	}
	lbFails(t, 1, "retention.ms", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs", "--add-config", "retention.ms=soon")
	// The cluster-wide dynamic broker configs; log.preallocate changes
	// nothing here, so the other tests sharing the cluster are unaffected.
	header, rows = table(t, lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-default", "--add-config", "log.preallocate=true"))
	if len(rows) != 1 || rows[0][0] != "log.preallocate" || rows[0][1] != "true" || rows[0][2] != "DYNAMIC_DEFAULT_BROKER_CONFIG" {
		t.Fatalf("configs alter --entity-default printed %v %v", header, rows)
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "topics", "--entity-name", "cli-configs", "--all")
	if !hasConfig(doc.Configs, "preallocate", "true") {
		t.Fatalf("cli-configs does not follow the cluster default log.preallocate=true: %+v", doc.Configs)
	}
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-default", "--delete-config", "log.preallocate")
	if _, rows := table(t, lbOK(t, "", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-default")); len(rows) != 0 {
		t.Fatalf("dynamic broker configs after the deletion: %v", rows)
	}
	lbFails(t, 1, "per-broker dynamic configs are not supported", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", "1", "--add-config", "log.preallocate=true")
	lbFails(t, 1, "Cannot update these configs dynamically", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-default", "--add-config", "num.io.threads=4")
	lbFails(t, 2, "--entity-default", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "brokers")
	lbFails(t, 2, "--entity-type", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "connectors", "--entity-name", "x")
	// A consumer group's own KIP-848 configs (kafka-configs.sh 4.0's
	// --entity-type groups), for a group that need not exist yet.
	_, rows = table(t, lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "groups", "--entity-name", "cli-group", "--add-config", "consumer.heartbeat.interval.ms=8000"))
	if len(rows) != 1 || rows[0][0] != "consumer.heartbeat.interval.ms" || rows[0][1] != "8000" || rows[0][2] != "GROUP_CONFIG" {
		t.Fatalf("configs alter of group cli-group printed %v", rows)
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "groups", "--entity-name", "cli-group", "--all")
	if !hasConfig(doc.Configs, "consumer.heartbeat.interval.ms", "8000") || !hasConfig(doc.Configs, "consumer.session.timeout.ms", "45000") {
		t.Fatalf("configs describe --all of group cli-group: %+v", doc.Configs)
	}
	lbFails(t, 1, "consumer.session.timeout.ms must be greater than or equal to 45000", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "groups", "--entity-name", "cli-group", "--add-config", "consumer.heartbeat.interval.ms=15000,consumer.session.timeout.ms=15000")
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "groups", "--entity-name", "cli-group", "--delete-config", "consumer.heartbeat.interval.ms")
	lbFails(t, 2, "--entity-name is required", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "groups")
	lbFails(t, 2, "broker is named by its id", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", "one")
}

// TestConfigsQuotas sets, lists and removes client quotas the way
// kafka-configs.sh does, with users and clients as entity types.
func TestConfigsQuotas(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152")
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--entity-type", "clients", "--entity-default", "--add-config", "producer_byte_rate=4096")
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "clients", "--entity-name", "cli-batch", "--add-config", "consumer_byte_rate=512")
	header, rows := table(t, lbOK(t, "", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice"))
	wantHeader(t, header, "ENTITY", "NAME", "VALUE")
	if len(rows) != 2 || rows[0][0] != "{user=cli-alice}" || rows[0][1]+rows[1][1] != "consumer_byte_rateproducer_byte_rate" && rows[0][1]+rows[1][1] != "producer_byte_rateconsumer_byte_rate" {
		t.Fatalf("describe user cli-alice: %v", rows)
	}
	var doc struct {
		Quotas []quotaRow `json:"quotas"`
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--entity-type", "clients")
	if len(doc.Quotas) != 1 || doc.Quotas[0] != (quotaRow{"{user=cli-alice, client-id=<default>}", "producer_byte_rate", 4096}) {
		t.Fatalf("describe user cli-alice's client ids: %+v", doc.Quotas)
	}
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "clients")
	if len(doc.Quotas) != 1 || doc.Quotas[0] != (quotaRow{"{client-id=cli-batch}", "consumer_byte_rate", 512}) {
		t.Fatalf("describe every client id: %+v", doc.Quotas)
	}
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "clients", "--entity-name", "cli-batch", "--delete-config", "consumer_byte_rate")
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "clients")
	if len(doc.Quotas) != 0 {
		t.Fatalf("describe every client id after the removal: %+v", doc.Quotas)
	}
	lbFails(t, 1, "must be positive", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--add-config", "request_percentage=0")
	lbFails(t, 1, "Long value", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--add-config", "producer_byte_rate=1.5")
	lbFails(t, 2, "quota=number", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", "cli-alice", "--add-config", "producer_byte_rate=fast")
	lbFails(t, 2, "--entity-name or --entity-default", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "users", "--add-config", "producer_byte_rate=1")
	lbFails(t, 2, "must follow its --entity-type", "configs", "describe", "--bootstrap-server", bs, "--entity-name", "x")
	lbFails(t, 2, "given twice", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "users", "--entity-type", "users")

	// ips: TEST-NET addresses, and a default far above any test's
	// connections, since the broker is shared.
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-name", "192.0.2.1", "--add-config", "connection_creation_rate=10")
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-default", "--add-config", "connection_creation_rate=1000000")
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "ips")
	if len(doc.Quotas) != 2 || doc.Quotas[0] != (quotaRow{"{ip=192.0.2.1}", "connection_creation_rate", 10}) || doc.Quotas[1] != (quotaRow{"{ip=<default>}", "connection_creation_rate", 1000000}) {
		t.Fatalf("describe every ip: %+v", doc.Quotas)
	}
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-default", "--delete-config", "connection_creation_rate")
	lbJSON(t, &doc, "configs", "describe", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-name", "192.0.2.1")
	if len(doc.Quotas) != 1 {
		t.Fatalf("describe ip 192.0.2.1 after the default's removal: %+v", doc.Quotas)
	}
	lbOK(t, "", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-name", "192.0.2.1", "--delete-config", "connection_creation_rate")
	lbFails(t, 1, "not a valid IP", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-name", "broker.example", "--add-config", "connection_creation_rate=10")
	lbFails(t, 1, "cannot be a fractional value", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-name", "192.0.2.1", "--add-config", "connection_creation_rate=1.5")
	lbFails(t, 1, "Invalid configuration key producer_byte_rate", "configs", "alter", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-default", "--add-config", "producer_byte_rate=10")
	lbFails(t, 2, "takes one entity", "configs", "describe", "--bootstrap-server", bs, "--entity-type", "ips", "--entity-type", "users")
}

func TestProduceConsumeLines(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-lines", "--partitions", "1")
	var sum produceSummary
	out := lbOK(t, "k1:v1\nk2:v2\nno-key\nk4:v:4\n", "produce", "--bootstrap-server", bs, "--topic", "cli-lines",
		"--key-separator", ":", "--header", "src=test", "--header", "n=1", "--compression", "zstd", "--output", "json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Records != 4 || sum.Acknowledged != 4 || sum.Failed != 0 || sum.Bytes != 19 {
		t.Fatalf("produce summary %q (%v): want 4 records acknowledged, 19 bytes (keys and values)", out, err)
	}
	out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--exit-at-end", "-f", `%t/%p/%o %k=%s [%h] %K %S\n`)
	want := "cli-lines/0/0 k1=v1 [src=test,n=1] 2 2\ncli-lines/0/1 k2=v2 [src=test,n=1] 2 2\n" +
		"cli-lines/0/2 =no-key [src=test,n=1] 0 6\ncli-lines/0/3 k4=v:4 [src=test,n=1] 2 3\n"
	if out != want {
		t.Fatalf("consume printed\n%s\nwant\n%s", out, want)
	}
	if out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--offset", "2", "--exit-at-end", "--format", `%o\t%s\n`); out != "2\tno-key\n3\tv:4\n" {
		t.Fatalf("consume --offset 2 printed %q", out)
	}
	if out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--count", "1", "--format", `%s\n`); out != "v1\n" {
		t.Fatalf("consume --count 1 printed %q", out)
	}
	if out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--offset", "end", "--exit-at-end"); out != "" {
		t.Fatalf("consume --offset end --exit-at-end printed %q, want nothing", out)
	}
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	if out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--timestamp", future, "--exit-at-end"); out != "" {
		t.Fatalf("consume --timestamp %s printed %q, want nothing", future, out)
	}
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	out = lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--timestamp", past, "--exit-at-end", "--output", "json")
	var rec recordDoc
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || len(lines) != 4 || rec.Key != "k4" || rec.Value != "v:4" || rec.Offset != 3 || rec.Headers["src"] != "test" {
		t.Fatalf("consume --output json printed %q (%v)", out, err)
	}

	lbFails(t, 1, "before --count", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--count", "10", "--timeout", "2s")
	lbFails(t, 1, "topics list", "consume", "--bootstrap-server", bs, "--topic", "cli-nope", "--exit-at-end", "--timeout", "5s")
	lbFails(t, 2, "unknown placeholder", "consume", "--bootstrap-server", bs, "--topic", "cli-lines", "--format", "%z")
	lbFails(t, 2, "--idempotent needs --acks all", "produce", "--bootstrap-server", bs, "--topic", "cli-lines", "--acks", "1")
	if _, errs, code := lb(t, "x\n", "produce", "--bootstrap-server", bs, "--topic", "cli-lines", "--partition", "7"); code != 1 || !strings.Contains(errs, "no partition 7") {
		t.Fatalf("produce to partition 7 of 1: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := lb(t, "x\n", "produce", "--bootstrap-server", bs, "--topic", "cli-nope"); code != 1 || !strings.Contains(errs, "topics list") {
		t.Fatalf("produce to a missing topic: exit %d, stderr %q", code, errs)
	}
}

func TestGroupsCommands(t *testing.T) {
	t.Parallel()
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-groups", "--partitions", "2")
	lbOK(t, "", "produce", "--bootstrap-server", bs, "--topic", "cli-groups", "--partition", "0", "--records", "10", "--prefix", "g")
	lbOK(t, "", "produce", "--bootstrap-server", bs, "--topic", "cli-groups", "--partition", "1", "--records", "6", "--prefix", "g")
	time.Sleep(5 * time.Millisecond)
	before := time.Now()
	if out := lbOK(t, "", "consume", "--bootstrap-server", bs, "--topic", "cli-groups", "--group", "cli-g", "--exit-at-end", "--format", `%s\n`); strings.Count(out, "\n") != 16 {
		t.Fatalf("consume --group printed %d records, want 16", strings.Count(out, "\n"))
	}
	var doc groupDoc
	lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	if doc.State != "Empty" || doc.TotalLag != 0 || len(doc.Offsets) != 2 || doc.Offsets[0].Committed != 10 || doc.Offsets[1].Committed != 6 {
		t.Fatalf("groups describe after consuming everything: %+v", doc)
	}
	time.Sleep(10 * time.Millisecond)
	lbOK(t, "", "produce", "--bootstrap-server", bs, "--topic", "cli-groups", "--partition", "0", "--records", "3", "--prefix", "h")

	header, rows := table(t, lbOK(t, "", "groups", "list", "--bootstrap-server", bs))
	wantHeader(t, header, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
	if !hasRow(rows, "cli-g", "Empty", "consumer") {
		t.Fatalf("groups list rows %v: no cli-g Empty consumer", rows)
	}
	out := lbOK(t, "", "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	header, rows = table(t, out)
	wantHeader(t, header, "GROUP", "STATE", "PROTOCOL-TYPE", "PROTOCOL", "COORDINATOR", "MEMBERS", "TOTAL-LAG")
	if rows[0][0] != "cli-g" || rows[0][5] != "0" || rows[0][6] != "3" {
		t.Fatalf("groups describe summary %v: want 0 members, total lag 3", rows[0])
	}
	if !strings.Contains(out, "cli-groups  0          10         13       3    -") {
		t.Fatalf("groups describe offsets: no row with committed 10, end 13, lag 3 in\n%s", out)
	}

	// Dry run: a plan, nothing committed.
	var plan struct {
		Executed bool      `json:"executed"`
		Plan     []planRow `json:"plan"`
	}
	lbJSON(t, &plan, "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups", "--to-earliest")
	if plan.Executed || len(plan.Plan) != 2 || plan.Plan[0].Current != 10 || plan.Plan[0].New != 0 {
		t.Fatalf("reset-offsets dry run: %+v", plan)
	}
	lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	if doc.TotalLag != 3 {
		t.Fatalf("after a dry run: total lag %d, want 3 (nothing committed)", doc.TotalLag)
	}
	_, errs, code := lb(t, "", "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups:0", "--to-offset", "4", "--execute")
	if code != 0 || !strings.Contains(errs, "reset cli-g: topic cli-groups, 1 partitions committed") {
		t.Fatalf("reset-offsets --execute: exit %d, stderr %q", code, errs)
	}
	lbOK(t, "", "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups:1", "--shift-by", "-2", "--execute")
	lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	if doc.Offsets[0].Committed != 4 || doc.Offsets[1].Committed != 4 || doc.TotalLag != 9+2 {
		t.Fatalf("after --to-offset 4 and --shift-by -2: %+v", doc.Offsets)
	}
	lbJSON(t, &plan, "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--all-topics", "--to-datetime", before.UTC().Format(time.RFC3339Nano), "--execute")
	if !plan.Executed || plan.Plan[0].New != 10 || plan.Plan[1].New != 6 {
		t.Fatalf("reset --to-datetime %s: %+v, want partition 0 at 10 (the h records), partition 1 at its end 6", before.UTC().Format(time.RFC3339Nano), plan)
	}

	// A live member: described with its assignment, and resets refused.
	cl, err := kgo.NewClient(kgo.SeedBrokers(shared.Get(t).Addrs()...), kgo.ConsumerGroup("cli-g"), kgo.ConsumeTopics("cli-groups"), kgo.ClientID("cli-test-member"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for doc.State != "Stable" || len(doc.Members) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("group never became Stable with the member: %+v", doc)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		cl.PollFetches(ctx)
		cancel()
		lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	}
	if m := doc.Members[0]; m.ClientID != "cli-test-member" || m.Host == "" || len(m.Assignment) != 1 || m.Assignment[0] != "cli-groups:0,1" {
		t.Fatalf("member %+v: want client id cli-test-member, a host and cli-groups:0,1", m)
	}
	lbFails(t, 1, "active members", "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups", "--to-latest", "--execute")
	lbFails(t, 1, "stop its consumers first", "groups", "delete", "--bootstrap-server", bs, "--group", "cli-g")
	cl.Close()
	for deadline = time.Now().Add(20 * time.Second); doc.State != "Empty"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("group never became Empty after its member left: %+v", doc)
		}
		lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	}
	if len(doc.Members) != 0 {
		t.Fatalf("Empty group with members: %+v", doc.Members)
	}

	lbOK(t, "", "groups", "delete-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups:1")
	lbJSON(t, &doc, "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	// An empty group's lag covers every partition of the topics it has
	// committed to; partition 1 now has no commit.
	if len(doc.Offsets) != 2 || doc.Offsets[0].Committed != 10 || doc.Offsets[1].Committed != -1 || doc.Offsets[1].MemberID != "" {
		t.Fatalf("after delete-offsets of partition 1: %+v", doc.Offsets)
	}
	lbOK(t, "", "groups", "delete", "--bootstrap-server", bs, "--group", "cli-g")
	lbFails(t, 1, "does not exist", "groups", "describe", "--bootstrap-server", bs, "--group", "cli-g")
	lbFails(t, 2, "exactly one of", "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--topic", "cli-groups", "--to-earliest", "--to-latest")
	lbFails(t, 2, "--all-topics", "groups", "reset-offsets", "--bootstrap-server", bs, "--group", "cli-g", "--to-earliest")
}

func hasRow(rows [][]string, cells ...string) bool {
	for _, r := range rows {
		if len(r) >= len(cells) && strings.Join(r[:len(cells)], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

func TestClusterStatus(t *testing.T) {
	c := shared.Get(t)
	bs := bootstrap(t)
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "cli-cluster", "--partitions", "3")
	https := []string{c.HTTPAddr(0), c.HTTPAddr(1), c.HTTPAddr(2)}
	var doc clusterDoc
	lbJSON(t, &doc, "cluster", "status", "--bootstrap-server", bs, "--http", strings.Join(https, ","))
	if len(doc.Brokers) != 3 || len(doc.Offline) != 0 || doc.Partitions < 3 {
		t.Fatalf("cluster status: %+v", doc)
	}
	leaders, replicas, metaLeaders := 0, 0, 0
	for _, b := range doc.Brokers {
		leaders += b.Leaders
		replicas += b.Replicas
		if b.MetaLeader {
			metaLeaders++
			if b.ID != doc.MetaLeader {
				t.Fatalf("broker %d marked meta leader, cluster says %d", b.ID, doc.MetaLeader)
			}
		}
		if !b.Reachable || b.Ready == nil || !*b.Ready || b.Version == "" || b.HTTPAddress == "" {
			t.Fatalf("broker %+v: want ready, a version and its HTTP address from /v1/status", b)
		}
		if b.MetaRole != "voter" {
			t.Fatalf("broker %d: __meta role %q, want voter (an initial member)", b.ID, b.MetaRole)
		}
	}
	if metaLeaders != 1 || leaders != doc.Partitions || replicas != 3*doc.Partitions {
		t.Fatalf("cluster status: %d meta leaders, %d leaders and %d replicas for %d partitions", metaLeaders, leaders, replicas, doc.Partitions)
	}
	out, errs, code := lb(t, "", "cluster", "status", "--bootstrap-server", bs, "--http", "127.0.0.1:1")
	header, rows := table(t, strings.SplitN(out, "\n", 2)[1])
	wantHeader(t, header, "ID", "ADDRESS", "UP", "META-LEADER", "META", "LEADERS", "REPLICAS", "READY", "VERSION", "HTTP")
	if code != 0 || len(rows) != 3 || !strings.Contains(errs, "no /v1/status from 127.0.0.1:1") || !strings.HasPrefix(out, "Cluster ") {
		t.Fatalf("cluster status with an unreachable --http: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	lbFails(t, 2, "unknown action", "cluster", "health")
}

// TestClusterStatusBrokerDown stops a broker of a cluster of its own: it is
// shown unreachable, and every partition with a replica on it
// under-replicated.
func TestClusterStatusBrokerDown(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{})
	bs := strings.Join(c.Addrs()[:2], ",")
	lbOK(t, "", "topics", "create", "--bootstrap-server", bs, "--topic", "down", "--partitions", "2")
	c.StopBroker(2)
	var doc clusterDoc
	lbJSON(t, &doc, "cluster", "status", "--bootstrap-server", bs, "--http", c.HTTPAddr(0))
	for _, b := range doc.Brokers {
		if b.Reachable != (b.ID != 3) {
			t.Fatalf("broker %d reachable = %v with broker 3 stopped", b.ID, b.Reachable)
		}
	}
	if len(doc.UnderReplicated) != doc.Partitions || doc.Partitions < 2 || joinIDs(doc.UnderReplicated[0].Down) != "3" {
		t.Fatalf("under-replicated %+v of %d partitions with broker 3 stopped, want all, with 3 unreachable", doc.UnderReplicated, doc.Partitions)
	}
	out := lbOK(t, "", "cluster", "status", "--bootstrap-server", bs, "--http", "")
	if !strings.Contains(out, "Under-replicated partitions") || !regexp.MustCompile(`\ndown +1 +\d +2,3,1 +2,3,1 +3\n`).MatchString(out) {
		t.Fatalf("cluster status table with broker 3 stopped:\n%s", out)
	}
}

// TestUsageExitCodes: help is success, a wrong command line exits 2
// before anything is dialled.
func TestUsageExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"topics", "--help"}, 0, "longboat topics add-partitions"},
		{[]string{"groups", "help"}, 0, "--to-datetime RFC3339"},
		{[]string{"cluster", "-h"}, 0, "cluster status"},
		{[]string{"help"}, 0, "longboat configs ACTION"},
		{nil, 2, "Usage:"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"groups"}, 2, "missing action"},
		{[]string{"topics", "list", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"topics", "list", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"configs", "alter", "--entity-type", "topics", "--entity-name", "t"}, 2, "nothing to change"},
		{[]string{"consume", "--topic", "t", "--offset", "soon"}, 2, "--offset"},
		{[]string{"produce", "--topic", "t", "--compression", "brotli"}, 2, "--compression"},
	} {
		out, errs, code := lb(t, "", c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("longboat %v: exit %d, output %q %q; want exit %d and %q", c.args, code, out, errs, c.code, c.want)
		}
	}
}
