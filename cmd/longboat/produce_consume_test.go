package main

import (
	"strings"
	"testing"
)

func TestRecordValueRoundTrip(t *testing.T) {
	for _, seq := range []int{0, 7, 123456789} {
		v := recordValue("run-1", seq)
		got, ok := parseRecordValue("run-1", []byte(v))
		if !ok || got != seq {
			t.Fatalf("parseRecordValue(%q) = %d, %v; want %d", v, got, ok, seq)
		}
	}
	for _, v := range []string{"run-2-000000001", "run-1-1", "run-1-00000000x", "run-1000000001"} {
		if seq, ok := parseRecordValue("run-1", []byte(v)); ok {
			t.Fatalf("parseRecordValue(%q) = %d, true; want no match", v, seq)
		}
	}
}

// TestProduceConsume runs the subcommands against a real three-broker
// cluster: every produced record is found once, and a missing or a
// duplicated record makes consume fail.
func TestProduceConsume(t *testing.T) {
	t.Parallel()
	c := shared.Get(t)
	s := discard()
	brokers := strings.Join(c.Addrs(), ",")
	if err := topicsCmd([]string{"create", "--brokers", brokers, "--topic", "pc", "--partitions", "3", "--replication-factor", "3"}, s); err != nil {
		t.Fatal(err)
	}
	if err := produceCmd([]string{"--brokers", brokers, "--topic", "pc", "--records", "500", "--prefix", "a", "--chunk", "64"}, s); err != nil {
		t.Fatalf("produce: %v", err)
	}
	// Through a single broker, as the smoke test does per port.
	if err := consumeCmd([]string{"--brokers", c.Addrs()[1], "--topic", "pc", "--prefix", "a", "--expect", "500", "--timeout", "30s"}, s); err != nil {
		t.Fatalf("consume: %v", err)
	}
	err := consumeCmd([]string{"--brokers", brokers, "--topic", "pc", "--prefix", "a", "--expect", "501", "--timeout", "3s"}, s)
	if err == nil || !strings.Contains(err.Error(), "1 missing (first: [500])") {
		t.Fatalf("consume expecting one record too many: err = %v, want 1 missing", err)
	}
	// Seq 0..9 of prefix a once more, into one partition.
	if err := produceCmd([]string{"--brokers", brokers, "--topic", "pc", "--records", "10", "--prefix", "a", "--partition", "2"}, s); err != nil {
		t.Fatalf("produce: %v", err)
	}
	err = consumeCmd([]string{"--brokers", brokers, "--topic", "pc", "--prefix", "a", "--expect", "500", "--timeout", "30s"}, s)
	if err == nil || !strings.Contains(err.Error(), "10 duplicates") {
		t.Fatalf("consume after duplicating 10 records: err = %v, want 10 duplicates", err)
	}
	// Without --prefix: prints partition 2 up to its end (else it times out).
	out, _, code := lb(t, "", "consume", "--brokers", brokers, "--topic", "pc", "--partition", "2", "--exit-at-end", "--format", `%p %s\n`, "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "2 a-000000009\n") {
		t.Fatalf("consume partition 2: exit %d, output %q", code, out)
	}
}

// TestBenchRejectsNegativeRate checks that --rate reaches the benchmark,
// which refuses a negative rate before it connects to anything.
func TestBenchRejectsNegativeRate(t *testing.T) {
	err := benchCmd([]string{"--brokers", "127.0.0.1:1", "--rate", "-5"})
	if err == nil || !strings.Contains(err.Error(), "--rate -5") {
		t.Fatalf("bench --rate -5: err = %v; want a --rate error", err)
	}
}

// TestBenchTransactionalFlags checks that --transactional and
// --records-per-txn reach the benchmark, and that --compare-idempotent
// alone and --idempotent without acks=all are refused, all before
// anything connects.
func TestBenchTransactionalFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--compare-idempotent":                                      "add --transactional",
		"--transactional --records-per-txn 0":                       "--records-per-txn 0",
		"--transactional --acks 1":                                  "transactions need acks=all",
		"--transactional --compare-idempotent --records-per-txn -1": "--records-per-txn -1",
		"--transactional --rate 100":                                "drop --rate",
		"--idempotent --acks 1":                                     "the idempotent producer needs acks=all",
	} {
		err := benchCmd(append([]string{"--brokers", "127.0.0.1:1"}, strings.Fields(args)...))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bench %s: err = %v; want %q", args, err, want)
		}
	}
}
