package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
)

// TestRunPaced runs an open-loop paced benchmark against a real three-broker
// cluster: the schedule sends exactly rate x duration records, the cluster
// keeps up at this modest rate, and the latency summary is ordered.
func TestRunPaced(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	defer c.Close()
	const rate, secs = 400, 3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Brokers: c.Addrs(), Topic: "paced", Partitions: 3, ReplicationFactor: 3,
		RecordSize: 100, Duration: secs * time.Second, Acks: "all", Compression: "none", Producers: 2,
		InFlight: 5, BatchBytes: 64 << 10, Rate: rate, Consume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Records != rate*secs {
		t.Fatalf("acked %d records with %d errors; want %d and 0", res.Records, res.Errors, rate*secs)
	}
	if res.ConsumeRecs != res.Records {
		t.Fatalf("consumed %d of %d records", res.ConsumeRecs, res.Records)
	}
	p := res.Pacing
	if p == nil || p.TargetPerSec != rate {
		t.Fatalf("pacing = %+v; want target %d", p, rate)
	}
	// Acks trail the last due time (at 3s) by one round trip, so the
	// achieved rate is a little under the target, never over; how much
	// under depends on how loaded the machine is (the race detector too).
	if p.AchievedPerSec > rate*1.01 || p.AchievedPerSec < rate*0.8 || p.Held != (p.AchievedPerSec >= HeldFraction*rate) {
		t.Fatalf("achieved %.1f records/s (held %v) in %.2fs, latency %+v; want within 10%% below %d", p.AchievedPerSec, p.Held, res.Seconds, res.LatencyMs, rate)
	}
	if p.MaxSendLagMs < 0 {
		t.Fatalf("max send lag %.3f ms", p.MaxSendLagMs)
	}
	for what, l := range map[string]Latency{"produce": res.LatencyMs, "end-to-end": res.EndToEndMs} {
		if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Avg > 0 && l.Avg <= l.Max) {
			t.Fatalf("%s latency not ordered or not positive: %+v", what, l)
		}
	}

	// Read while produced, a record arrives well within the run; read only
	// afterwards, half of them would be older than half the run.
	if res.EndToEndMs.P50 >= res.Seconds*1000/2 {
		t.Fatalf("end-to-end p50 %.1f ms in a %.2f s run: not measured while producing", res.EndToEndMs.P50, res.Seconds)
	}

	var table, js bytes.Buffer
	WriteTable(&table, []string{"paced"}, []*Result{res})
	if !strings.Contains(table.String(), "target/s") || !strings.Contains(table.String(), "  400 ") {
		t.Fatalf("table lacks the pacing columns:\n%s", table.String())
	}
	if err := WriteJSON(&js, []string{"paced"}, []*Result{res}); err != nil {
		t.Fatal(err)
	}
	var back map[string]struct {
		Pacing struct {
			Target float64 `json:"target_records_per_sec"`
			Held   bool    `json:"held"`
		} `json:"pacing"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["paced"].Pacing.Target != rate || back["paced"].Pacing.Held != p.Held {
		t.Fatalf("JSON pacing = %+v (err %v) from %s", back["paced"].Pacing, err, js.String())
	}
}

// TestRunRejectsNegativeRate fails before touching any broker.
func TestRunRejectsNegativeRate(t *testing.T) {
	_, err := Run(context.Background(), Options{Brokers: []string{"127.0.0.1:1"}, Acks: "all", Compression: "none", Rate: -1})
	if err == nil || !strings.Contains(err.Error(), "--rate") {
		t.Fatalf("err = %v; want a --rate error", err)
	}
}

// TestRunTransactional produces a fixed count in transactions against a
// real cluster: the last transaction is the partial remainder, every
// record is committed, and the read_committed read-back sees them all.
func TestRunTransactional(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Brokers: c.Addrs(), Topic: "txn", Partitions: 3, ReplicationFactor: 3,
		RecordSize: 100, Records: 1200, Acks: "all", Compression: "none", Producers: 2,
		InFlight: 5, BatchBytes: 64 << 10, Linger: time.Millisecond, Consume: true, Transactional: true, RecordsPerTxn: 500})
	if err != nil {
		t.Fatal(err)
	}
	// Two producers share the 1200 records: 500 per transaction, each
	// producer's last one short, so 3 or 4 transactions.
	if res.Errors != 0 || res.Records != 1200 || res.Transactions < 3 || res.Transactions > 4 {
		t.Fatalf("committed %d records in %d transactions with %d errors; want 1200 in 3-4 and 0", res.Records, res.Transactions, res.Errors)
	}
	if res.ConsumeRecs != res.Records {
		t.Fatalf("read_committed read back %d of %d records", res.ConsumeRecs, res.Records)
	}
	if l := res.LatencyMs; !(l.P50 > 0 && l.P50 <= l.Max) {
		t.Fatalf("commit latency %+v", l)
	}
	// Every committed transaction sent one EndTxn and at least one
	// AddPartitionsToTxn and Produce; the wall times cover the requests.
	st := res.TxnSteps
	if st == nil {
		t.Fatal("no transaction steps")
	}
	end, add, prod := st.Requests["EndTxn"], st.Requests["AddPartitionsToTxn"], st.Requests["Produce"]
	if end.PerTxn < 1 || add.PerTxn < 1 || prod.PerTxn < 1 || end.MeanMs <= 0 || add.MeanMs <= 0 {
		t.Fatalf("steps %+v", st)
	}
	if st.EndTxnMs < end.MeanMs/2 || st.RecordsMs < add.MeanMs/2 {
		t.Fatalf("wall times below the requests they wait for: %+v", st)
	}
	var out strings.Builder
	WriteTxnSteps(&out, st)
	if !strings.Contains(out.String(), " EndTxn ") || !strings.Contains(out.String(), " AddPartitionsToTxn ") {
		t.Fatalf("steps printed as %q", out.String())
	}
}

// TestRunTransactionalRejects fails before touching any broker.
func TestRunTransactionalRejects(t *testing.T) {
	for _, o := range []Options{
		{RecordsPerTxn: 0, Acks: "all"},
		{RecordsPerTxn: 10, Acks: "1"},
		{RecordsPerTxn: 10, Acks: "all", Rate: 100},
	} {
		o.Brokers, o.Compression, o.Transactional = []string{"127.0.0.1:1"}, "none", true
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--") {
			t.Fatalf("%+v: err = %v; want a flag error", o, err)
		}
	}
}
