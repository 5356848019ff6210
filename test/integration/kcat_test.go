package integration

// Tests driving the cluster with Debian's kcat (librdkafka 2.0.2), the
// oldest and strictest real client here.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/testutil"
)

func kcatPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	return p
}

// runKcat runs kcat with args and stdin, failing the test on a non-zero
// exit or timeout; it returns stdout and stderr.
func runKcat(t testing.TB, timeout time.Duration, stdin []byte, args ...string) (string, string) {
	t.Helper()
	stdout, stderr, err := runKcatErr(t, timeout, stdin, args...)
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, tail(stderr, 3000))
	}
	return stdout, stderr
}

// runKcatErr runs kcat and reports a timeout or non-zero exit as an error.
func runKcatErr(t testing.TB, timeout time.Duration, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	// On timeout, interrupt kcat so that it flushes what it has consumed;
	// kill it only if it does not exit within 5s.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("kcat %s: did not exit within %v", strings.Join(args, " "), timeout)
	}
	if err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("kcat %s: %v after %v", strings.Join(args, " "), err, time.Since(start))
	}
	return stdout.String(), stderr.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// storedCodecs fetches each partition of topic from its leader with a raw
// kmsg.FetchRequest and counts the stored record batches per codec id.
func storedCodecs(t testing.TB, addrs []string, topic string) map[int16]int {
	t.Helper()
	cl := newClient(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	// A broker without a replica names the leader once the leader's report
	// reaches __meta: until then Metadata answers leader -1, as Kafka's
	// LEADER_NOT_AVAILABLE, and a client asks again.
	var md *kmsg.MetadataResponse
	testutil.Eventually(t, 15*time.Second, func() error {
		var err error
		if md, err = mreq.RequestWith(ctx, cl); err != nil || len(md.Topics) != 1 {
			return fmt.Errorf("metadata: %v", err)
		}
		for _, mp := range md.Topics[0].Partitions {
			if mp.Leader < 0 {
				return fmt.Errorf("%s/%d: no leader in Metadata yet", topic, mp.Partition)
			}
		}
		return nil
	})
	out := map[int16]int{}
	for _, mp := range md.Topics[0].Partitions {
		next := int64(0)
		for {
			freq := kmsg.NewPtrFetchRequest()
			freq.MaxWaitMillis = 100
			freq.MinBytes = 1
			freq.MaxBytes = 32 << 20
			freq.ReplicaID = -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = topic
			ft.TopicID = md.Topics[0].TopicID
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition = mp.Partition
			fp.FetchOffset = next
			fp.PartitionMaxBytes = 32 << 20
			fp.CurrentLeaderEpoch = -1
			ft.Partitions = append(ft.Partitions, fp)
			freq.Topics = append(freq.Topics, ft)
			resp, err := freq.RequestWith(ctx, cl.Broker(int(mp.Leader)))
			if err != nil {
				t.Fatalf("raw fetch %s/%d from leader %d: %v", topic, mp.Partition, mp.Leader, err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("raw fetch %s/%d: malformed response %+v", topic, mp.Partition, resp)
			}
			rp := resp.Topics[0].Partitions[0]
			if rp.ErrorCode != 0 {
				t.Fatalf("raw fetch %s/%d at %d from leader %d: error code %d", topic, mp.Partition, next, mp.Leader, rp.ErrorCode)
			}
			raw := rp.RecordBatches
			for len(raw) >= 61 {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(raw); err != nil {
					break // a partial trailing batch is allowed
				}
				length := int(b.Length) + 12
				if length > len(raw) {
					break
				}
				out[b.Attributes&0x07]++
				next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
				raw = raw[length:]
			}
			if next >= rp.HighWatermark {
				break
			}
		}
	}
	return out
}

// checkStoredCodec asserts every stored batch of topic carries codec, or
// none when allowUncompressed (librdkafka sends a batch uncompressed when
// compressing would make it larger), and at least one carries codec.
func checkStoredCodec(t testing.TB, addrs []string, topic string, codec int16, allowUncompressed bool) {
	t.Helper()
	got := storedCodecs(t, addrs, topic)
	for id, n := range got {
		if id != codec && !(id == 0 && allowUncompressed) {
			t.Fatalf("%s: %d stored batches have codec %d; the producer used %d and the broker must keep batches as sent (all: %v)", topic, n, id, codec, got)
		}
	}
	if got[codec] == 0 {
		t.Fatalf("%s: no stored batch has codec %d (stored codecs: %v)", topic, codec, got)
	}
	t.Logf("%s: stored batches per codec: %v", topic, got)
}

type kcatLine struct {
	partition int32
	offset    int64
	key       string
	value     string
}

// kcatConsume reads topic from the beginning to the end of every partition
// with -e and parses '%p %o %k %s' lines. kcat not exiting (it exits once
// librdkafka has seen the end of every partition) is reported as a test
// error, and whatever it printed is still parsed and returned.
func kcatConsume(t testing.TB, addrs []string, topic string) []kcatLine {
	t.Helper()
	out, stderr, err := runKcatErr(t, 15*time.Second, nil, "-C", "-b", strings.Join(addrs, ","), "-t", topic,
		"-o", "beginning", "-e", "-f", "%p %o %k %s\n")
	if err != nil {
		var errLines []string
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, "ERR") || strings.Contains(l, "invalid") || strings.Contains(l, "failure") {
				errLines = append(errLines, l)
			}
		}
		t.Errorf("%v: librdkafka never reported the end of every partition; %d error lines on stderr, first: %s",
			err, len(errLines), strings.Join(errLines[:min(len(errLines), 4)], "\n"))
		// An interrupted kcat may have cut its last line short.
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			out = out[:i+1]
		} else {
			out = ""
		}
	}
	var lines []kcatLine
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			t.Fatalf("unparsable kcat line %q", l)
		}
		p, err1 := strconv.Atoi(f[0])
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparsable kcat line %q", l)
		}
		lines = append(lines, kcatLine{int32(p), o, f[2], f[3]})
	}
	return lines
}

// TestKcatProduceConsume produces 1,000 lines per variant with
// `kcat -P -X acks=all` (uncompressed, gzip, snappy, lz4, zstd, and keyed
// with -K:), consumes with `kcat -C -o beginning -e`, and asserts every line
// exactly once, contiguous increasing offsets per partition, keys kept, and
// (raw Fetch) the stored batches carrying the codec kcat used. Finally
// `kcat -L -J` must show 3 brokers and a leader and 3 in-sync replicas for
// every partition.
func TestKcatProduceConsume(t *testing.T) {
	kcatPath(t)
	c := sharedCluster(t)
	addrs := c.Addrs()
	bootstrap := strings.Join(addrs, ",")
	const n, parts = 1000, 3
	variants := []struct {
		name  string
		codec string // -z argument, "" for none
		id    int16
		keyed bool
	}{
		{"plain", "", 0, false},
		{"gzip", "gzip", 1, false},
		{"snappy", "snappy", 2, false},
		{"lz4", "lz4", 3, false},
		{"zstd", "zstd", 4, false},
		{"keyed", "", 0, true},
	}
	t.Run("variants", func(t *testing.T) {
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				t.Parallel()
				topic := "kc-" + v.name
				createTopic(t, addrs, topic, parts, 3)
				kgWaitLeaders(t, addrs, topic, parts)
				var in bytes.Buffer
				for i := 0; i < n; i++ {
					if v.keyed {
						fmt.Fprintf(&in, "key-%d:", i)
					}
					fmt.Fprintf(&in, "%s-%d-%s\n", topic, i, strings.Repeat("x", i%97))
				}
				args := []string{"-P", "-b", bootstrap, "-t", topic, "-X", "acks=all", "-X", "linger.ms=5"}
				if v.codec != "" {
					args = append(args, "-z", v.codec)
				}
				if v.keyed {
					args = append(args, "-K:")
				}
				start := time.Now()
				_, stderr := runKcat(t, 45*time.Second, in.Bytes(), args...)
				t.Logf("kcat -P %s: %v", v.name, time.Since(start))
				if strings.Contains(stderr, "ERROR") || strings.Contains(stderr, "failed") {
					t.Errorf("kcat -P stderr: %s", tail(stderr, 2000))
				}

				lines := kcatConsume(t, addrs, topic)
				seen := map[string]bool{}
				last := map[int32]int64{}
				perPart := map[int32]int{}
				for _, l := range lines {
					if prev, ok := last[l.partition]; ok && l.offset != prev+1 {
						t.Fatalf("partition %d: offset %d after %d (want contiguous)", l.partition, l.offset, prev)
					} else if !ok && l.offset != 0 {
						t.Fatalf("partition %d starts at offset %d, want 0", l.partition, l.offset)
					}
					last[l.partition] = l.offset
					perPart[l.partition]++
					if seen[l.value] {
						t.Fatalf("line %q consumed twice", l.value)
					}
					seen[l.value] = true
					var i int
					if _, err := fmt.Sscanf(strings.TrimPrefix(l.value, topic+"-"), "%d-", &i); err != nil {
						t.Fatalf("unexpected value %q", l.value)
					}
					if want := fmt.Sprintf("%s-%d-%s", topic, i, strings.Repeat("x", i%97)); l.value != want {
						t.Fatalf("value %q, want %q", l.value, want)
					}
					if v.keyed && l.key != fmt.Sprintf("key-%d", i) {
						t.Fatalf("value %q: key %q, want key-%d", l.value, l.key, i)
					}
					if !v.keyed && l.key != "" {
						t.Fatalf("value %q: key %q, want none", l.value, l.key)
					}
				}
				if len(seen) != n {
					t.Fatalf("consumed %d distinct lines of %d (%d lines, per partition %v)", len(seen), n, len(lines), perPart)
				}
				t.Logf("per partition: %v", perPart)
				if v.name == "plain" {
					// Relative start (ListOffsets latest, then offset - 10) on
					// the fullest partition.
					bp := int32(0)
					for p := range last {
						if last[p] > last[bp] {
							bp = p
						}
					}
					out, _ := runKcat(t, 15*time.Second, nil, "-C", "-b", bootstrap, "-t", topic, "-p", strconv.Itoa(int(bp)),
						"-o", "-10", "-e", "-q", "-f", "%o\n")
					got := strings.Fields(out)
					var want []string
					for o := max(0, last[bp]-9); o <= last[bp]; o++ {
						want = append(want, strconv.FormatInt(o, 10))
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("kcat -p %d -o -10: offsets %v, want %v", bp, got, want)
					}
				}
				if v.codec == "lz4" {
					// librdkafka 2.0.2 enables its LZ4 feature only when the
					// broker advertises FindCoordinator v0 (the 0.9-era feature
					// set); without it kcat -z lz4 silently sends uncompressed.
					if got := storedCodecs(t, addrs, topic); got[3] == 0 {
						t.Errorf("%s: no stored batch is lz4 (stored codecs %v): librdkafka disabled LZ4 because ApiVersions lacks FindCoordinator v0 (\"Feature LZ4: FindCoordinator (0..0) NOT supported by broker\" with -d feature)", topic, got)
					}
				}
				if v.codec != "" && v.codec != "lz4" {
					checkStoredCodec(t, addrs, topic, v.id, true)
				}
			})
		}
	})

	// Metadata as librdkafka sees it.
	out, _ := runKcat(t, 30*time.Second, nil, "-L", "-J", "-b", bootstrap)
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32  `json:"partition"`
				Leader    int32  `json:"leader"`
				Error     string `json:"error"`
				Replicas  []struct {
					ID int32 `json:"id"`
				} `json:"replicas"`
				ISRs []struct {
					ID int32 `json:"id"`
				} `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J output: %v\n%s", err, out)
	}
	if len(md.Brokers) != 3 {
		t.Errorf("kcat -L: %d brokers, want 3: %+v", len(md.Brokers), md.Brokers)
	}
	names := map[string]bool{}
	for _, b := range md.Brokers {
		names[b.Name] = true
	}
	for _, a := range addrs {
		if !names[a] {
			t.Errorf("kcat -L: broker address %s not listed in %+v", a, md.Brokers)
		}
	}
	found := 0
	for _, tp := range md.Topics {
		if !strings.HasPrefix(tp.Topic, "kc-") {
			continue
		}
		found++
		if tp.Error != "" || len(tp.Partitions) != parts {
			t.Errorf("kcat -L: topic %s error %q, %d partitions", tp.Topic, tp.Error, len(tp.Partitions))
		}
		for _, p := range tp.Partitions {
			if p.Error != "" || p.Leader < 1 || len(p.Replicas) != 3 || len(p.ISRs) != 3 {
				t.Errorf("kcat -L: %s/%d: error %q leader %d replicas %v isrs %v", tp.Topic, p.Partition, p.Error, p.Leader, p.Replicas, p.ISRs)
			}
		}
	}
	if found != len(variants) {
		t.Errorf("kcat -L lists %d of the %d test topics", found, len(variants))
	}
}
