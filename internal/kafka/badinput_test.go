package kafka_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

// TestBadInput drives one real broker with malformed and awkward requests,
// over raw TCP where a client library would refuse to send them.
func TestBadInput(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a broker")
	}
	c := oneBroker.Get(t)
	addr := c.Addrs()[0]
	// The raw Produce requests below name their topic, which Produce v13
	// replaced with the topic id.
	maxVersions := kversion.Stable()
	maxVersions.SetMaxKeyVersion(0, 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxVersions(maxVersions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	t.Run("NegativeSize", func(t *testing.T) {
		for _, size := range []int32{-1, -100, -1 << 31} {
			conn := dial(t, addr)
			writeRaw(t, conn, binary.BigEndian.AppendUint32(nil, uint32(size)))
			expectClosed(t, conn, fmt.Sprintf("size prefix %d", size))
			expectServing(t, addr)
		}
	})

	t.Run("OversizedFrame", func(t *testing.T) {
		for _, size := range []int32{100<<20 + 1, 1<<31 - 1} {
			conn := dial(t, addr)
			// Announce the size and send a plausible header; the broker must
			// refuse before allocating or waiting for the rest.
			b := binary.BigEndian.AppendUint32(nil, uint32(size))
			b = append(b, headerBytes(18, 0, 1, "big", false)...)
			writeRaw(t, conn, b)
			expectClosed(t, conn, fmt.Sprintf("size prefix %d", size))
			expectServing(t, addr)
		}
	})

	t.Run("TinyFrame", func(t *testing.T) {
		// Sizes below a request header (8 bytes) cannot be a request.
		for _, size := range []int32{0, 7} {
			conn := dial(t, addr)
			writeRaw(t, conn, append(binary.BigEndian.AppendUint32(nil, uint32(size)), make([]byte, size)...))
			expectClosed(t, conn, fmt.Sprintf("size prefix %d", size))
		}
		expectServing(t, addr)
	})

	t.Run("TruncatedFrame", func(t *testing.T) {
		// Size says 100, then 10 bytes, then the client goes away.
		conn := dial(t, addr)
		b := binary.BigEndian.AppendUint32(nil, 100)
		b = append(b, headerBytes(18, 0, 7, "", false)[:10]...)
		writeRaw(t, conn, b)
		conn.Close()
		expectServing(t, addr)

		// Same, but half-closed: the broker sees EOF mid-frame and must
		// close its side without answering.
		conn = dial(t, addr)
		writeRaw(t, conn, b)
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, conn, "truncated frame then EOF")
		expectServing(t, addr)
	})

	t.Run("UnknownAPIKey", func(t *testing.T) {
		conn := dial(t, addr)
		writeFrame(t, conn, headerBytes(9999, 0, 11, "bad", false))
		expectClosed(t, conn, "API key 9999")
		expectServing(t, addr)
	})

	t.Run("UnsupportedProduceVersion", func(t *testing.T) {
		for _, v := range []int16{99, 14, -1} {
			conn := dial(t, addr)
			// A v9 body under a v99 header: whatever the body, the version
			// alone must make the broker refuse.
			body := kmsg.NewPtrProduceRequest()
			body.SetVersion(9)
			body.Acks, body.TimeoutMillis = -1, 1000
			writeFrame(t, conn, append(headerBytes(0, v, 12, "bad", true), body.AppendTo(nil)...))
			expectClosed(t, conn, fmt.Sprintf("Produce v%d", v))
		}
		expectServing(t, addr)
	})

	t.Run("ApiVersionsFutureVersion", func(t *testing.T) {
		for _, v := range []int16{5, 99, 127} {
			conn := dial(t, addr)
			corr := int32(0x5eed0000) + int32(v)
			// A flexible header and a body the broker cannot know the shape of.
			frame := append(headerBytes(18, v, corr, "future-client", true), 0x0e, 'f', 'u', 't', 'u', 'r', 'e', 0x02, '9', 0x00, 0xde, 0xad)
			writeFrame(t, conn, frame)
			gotCorr, body := readResponse(t, conn)
			if gotCorr != corr {
				t.Fatalf("ApiVersions v%d: correlation id %#x, sent %#x", v, gotCorr, corr)
			}
			// v0 format: no header tags, no throttle, no body tags.
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.SetVersion(0)
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("ApiVersions v%d: response does not decode at v0: %v (% x)", v, err, body)
			}
			if resp.ErrorCode != 35 {
				t.Fatalf("ApiVersions v%d: error code %d, want 35 UNSUPPORTED_VERSION", v, resp.ErrorCode)
			}
			keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
			for _, k := range resp.ApiKeys {
				keys[k.ApiKey] = k
			}
			if av, ok := keys[18]; !ok || av.MinVersion != 0 || av.MaxVersion < 3 {
				t.Fatalf("ApiVersions v%d: key list lacks ApiVersions 0..3+: %+v", v, resp.ApiKeys)
			}
			if p, ok := keys[0]; !ok || p.MinVersion != 0 {
				t.Fatalf("ApiVersions v%d: key list lacks Produce from v0: %+v", v, resp.ApiKeys)
			}
			// The connection stays usable: the client retries at v0.
			writeFrame(t, conn, headerBytes(18, 0, corr+1, "future-client", false))
			if got, body := readResponse(t, conn); got != corr+1 {
				t.Fatalf("retry at v0: correlation id %d, sent %d", got, corr+1)
			} else {
				r := kmsg.NewPtrApiVersionsResponse()
				r.SetVersion(0)
				if err := r.ReadFrom(body); err != nil || r.ErrorCode != 0 {
					t.Fatalf("retry at v0: err=%v code=%d", err, r.ErrorCode)
				}
			}
			conn.Close()
		}
	})

	t.Run("PipelinedOrder", func(t *testing.T) {
		conn := dial(t, addr)
		type sent struct {
			corr    int32
			key     int16
			version int16
		}
		var want []sent
		var buf []byte
		for i := 0; i < 50; i++ {
			// Distinct, non-monotonic correlation ids, so that an ordering
			// bug cannot hide behind a counter.
			corr := int32((i*7919)%100003) + 1
			var req kmsg.Request
			if i%2 == 0 {
				r := kmsg.NewPtrApiVersionsRequest()
				r.SetVersion(int16(i / 2 % 5)) // v0..v4
				r.ClientSoftwareName, r.ClientSoftwareVersion = "pipeline", "1"
				req = r
			} else {
				r := kmsg.NewPtrMetadataRequest()
				r.SetVersion(int16(i / 2 % 14)) // v0..v13
				if r.Version >= 1 {
					r.Topics = nil // all topics (v1+: null array)
				}
				req = r
			}
			want = append(want, sent{corr, req.Key(), req.GetVersion()})
			frame := append(headerBytes(req.Key(), req.GetVersion(), corr, "pipeline", req.IsFlexible()), req.AppendTo(nil)...)
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(frame)))
			buf = append(buf, frame...)
		}
		writeRaw(t, conn, buf) // all 50 before reading anything
		r := bufio.NewReader(conn)
		for i, w := range want {
			corr, body := readResponseFrom(t, conn, r)
			if corr != w.corr {
				t.Fatalf("response %d: correlation id %d, want %d (request order broken)", i, corr, w.corr)
			}
			resp := kmsg.ResponseForKey(w.key)
			resp.SetVersion(w.version)
			if resp.IsFlexible() && w.key != 18 {
				// Flexible response header: an (empty) tag section.
				if len(body) == 0 || body[0] != 0 {
					t.Fatalf("response %d (%s v%d): header tags % x", i, kmsg.NameForKey(w.key), w.version, body[:min(4, len(body))])
				}
				body = body[1:]
			}
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("response %d (%s v%d) does not decode: %v", i, kmsg.NameForKey(w.key), w.version, err)
			}
		}
	})

	t.Run("CreateTopicsNullArray", func(t *testing.T) {
		conn := dial(t, addr)
		for v := int16(2); v <= 4; v++ {
			body := binary.BigEndian.AppendUint32(nil, 0xffffffff) // topics: null
			body = binary.BigEndian.AppendUint32(body, 5000)       // timeout_ms
			body = append(body, 0)                                 // validate_only (v1+)
			corr := int32(300 + v)
			writeFrame(t, conn, append(headerBytes(19, v, corr, "null-array", false), body...))
			got, rb := readResponse(t, conn)
			if got != corr {
				t.Fatalf("CreateTopics v%d: correlation id %d, sent %d", v, got, corr)
			}
			resp := kmsg.NewPtrCreateTopicsResponse()
			resp.SetVersion(v)
			if err := resp.ReadFrom(rb); err != nil {
				t.Fatalf("CreateTopics v%d: response does not decode: %v", v, err)
			}
			if len(resp.Topics) != 0 {
				t.Fatalf("CreateTopics v%d: %d topics answered for a null array", v, len(resp.Topics))
			}
		}
		// The same connection, and a fresh one, still work.
		writeFrame(t, conn, headerBytes(18, 0, 399, "null-array", false))
		if got, _ := readResponse(t, conn); got != 399 {
			t.Fatalf("after null arrays: correlation id %d, sent 399", got)
		}
		expectServing(t, addr)
	})

	t.Run("CreateTopicsInvalidNames", func(t *testing.T) {
		bad := []string{"", "a/b", ".", "..", strings.Repeat("a", 250), "a b", "topic\x00"}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		for _, name := range append(bad, strings.Repeat("b", 249)) {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctxT(t, 30*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int16{}
		for _, rt := range resp.Topics {
			got[rt.Topic] = rt.ErrorCode
		}
		if len(resp.Topics) != len(req.Topics) {
			t.Fatalf("%d topics answered for %d sent: %+v", len(resp.Topics), len(req.Topics), got)
		}
		for _, name := range bad {
			if code, ok := got[name]; !ok || code != 17 {
				t.Errorf("topic %q: error code %d (answered %v), want 17 INVALID_TOPIC_EXCEPTION", name, code, ok)
			}
		}
		// 249 characters is the longest legal name.
		if code := got[strings.Repeat("b", 249)]; code != 0 {
			t.Errorf("249-character name: error code %d, want 0", code)
		}
	})

	t.Run("HugePartitionCount", func(t *testing.T) {
		// A CreateTopics with a huge count once reached __meta, whose apply
		// (placement) ran every broker out of memory, again on every restart.
		// Kafka rejects more than 10000 new partitions per request with
		// POLICY_VIOLATION (KAFKA-17870, KAFKA-19673).
		for _, validateOnly := range []bool{true, false} {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis, req.ValidateOnly = 10000, validateOnly
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "badinput-huge", 1<<31-1, 1
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctxT(t, 30*time.Second), cl)
			if err != nil || len(resp.Topics) != 1 {
				t.Fatalf("validateOnly=%v: err=%v resp=%+v", validateOnly, err, resp)
			}
			if code := resp.Topics[0].ErrorCode; code != 44 && code != 37 {
				t.Errorf("validateOnly=%v: %d partitions: error code %d, want 44 POLICY_VIOLATION (or 37 INVALID_PARTITIONS)", validateOnly, rt.NumPartitions, code)
			}
		}
		expectServing(t, addr)
	})

	t.Run("ProduceValidation", func(t *testing.T) {
		ctx := ctxT(t, 60*time.Second)
		const topic = "badinput-produce"
		ct := kmsg.NewPtrCreateTopicsRequest()
		ct.TimeoutMillis = 20000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
		ct.Topics = append(ct.Topics, rt)
		ctResp, err := ct.RequestWith(ctx, cl)
		if err != nil || len(ctResp.Topics) != 1 || ctResp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: err=%v resp=%+v", topic, err, ctResp)
		}

		produce := func(topic string, records []byte) int16 {
			t.Helper()
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = -1, 10000
			pt := kmsg.NewProduceRequestTopic()
			pt.Topic = topic
			pp := kmsg.NewProduceRequestTopicPartition()
			pp.Records = records
			pt.Partitions = append(pt.Partitions, pp)
			req.Topics = append(req.Topics, pt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("produce to %s: response shape %+v", topic, resp)
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}
		latest := func() int64 {
			t.Helper()
			req := kmsg.NewPtrListOffsetsRequest()
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = topic
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Timestamp = -1
			lt.Partitions = append(lt.Partitions, lp)
			req.Topics = append(req.Topics, lt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("list offsets: err=%v resp=%+v", err, resp)
			}
			return resp.Topics[0].Partitions[0].Offset
		}

		good := recordBatch(t, []byte("hello"))
		bad := append([]byte(nil), good...)
		bad[len(bad)-1] ^= 0xff // a flipped value byte: the CRC no longer matches
		if code := produce(topic, bad); code != 2 {
			t.Errorf("corrupt CRC (payload byte): error code %d, want 2 CORRUPT_MESSAGE", code)
		}
		badCRC := append([]byte(nil), good...)
		badCRC[17] ^= 0x01 // the CRC field itself
		if code := produce(topic, badCRC); code != 2 {
			t.Errorf("corrupt CRC (CRC field): error code %d, want 2 CORRUPT_MESSAGE", code)
		}
		if off := latest(); off != 0 {
			t.Fatalf("after corrupt batches: latest offset %d, want 0 (nothing appended)", off)
		}

		big := recordBatch(t, make([]byte, 1048588))
		if len(big) <= 1048588 {
			t.Fatalf("test batch of %d bytes is not over max.message.bytes", len(big))
		}
		if code := produce(topic, big); code != 10 {
			t.Errorf("batch of %d bytes: error code %d, want 10 MESSAGE_TOO_LARGE", len(big), code)
		}
		if off := latest(); off != 0 {
			t.Fatalf("after oversized batch: latest offset %d, want 0", off)
		}

		if code := produce("badinput-no-such-topic", good); code != 3 {
			t.Errorf("produce to a missing topic: error code %d, want 3 UNKNOWN_TOPIC_OR_PARTITION", code)
		}

		// Kafka's rules for what a client may write (LogValidator).
		now := time.Now().UnixMilli()
		recs := func(tsDeltas ...int64) []kmsg.Record {
			out := make([]kmsg.Record, len(tsDeltas))
			for i, d := range tsDeltas {
				out[i] = kmsg.Record{TimestampDelta64: d, OffsetDelta: int32(i), Value: []byte("v")}
			}
			return out
		}
		rules := []struct {
			name  string
			batch []byte
			code  int16
		}{
			{"codec 5", clientBatch(t, 5, now, 1, recs(0)), 76},                                                                         // UNSUPPORTED_COMPRESSION_TYPE
			{"control batch", clientBatch(t, 0x20, now, 1, recs(0)), 87},                                                                // INVALID_RECORD
			{"more records claimed than the bytes hold", clientBatch(t, 0, now, 3, recs(0, 1)), 2},                                      // CORRUPT_MESSAGE
			{"fewer records claimed than the bytes hold", clientBatch(t, 0, now, 1, recs(0, 1)), 2},                                     // CORRUPT_MESSAGE
			{"offset deltas out of sequence", clientBatch(t, 0, now, 2, []kmsg.Record{{Value: []byte("a")}, {Value: []byte("b")}}), 87}, // INVALID_RECORD
			{"timestamp two hours ahead", clientBatch(t, 0, now+2*3600*1000, 1, recs(0)), 32},                                           // INVALID_TIMESTAMP
			{"producer claims LogAppendTime, no timestamp", clientBatch(t, 0x08, -1, 1, recs(0)), 32},                                   // INVALID_TIMESTAMP
		}
		for _, r := range rules {
			if code := produce(topic, r.batch); code != r.code {
				t.Errorf("%s: error code %d, want %d", r.name, code, r.code)
			}
		}
		if off := latest(); off != 0 {
			t.Fatalf("after batches breaking the client rules: latest offset %d, want 0", off)
		}
		// message.timestamp.before.max.ms, set on a topic.
		const strict = "badinput-strict-time"
		ct = kmsg.NewPtrCreateTopicsRequest()
		ct.TimeoutMillis = 20000
		rt = kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = strict, 1, 1
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = "message.timestamp.before.max.ms", kmsg.StringPtr("60000")
		rt.Configs = append(rt.Configs, cfg)
		ct.Topics = append(ct.Topics, rt)
		if ctResp, err := ct.RequestWith(ctx, cl); err != nil || len(ctResp.Topics) != 1 || ctResp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: err=%v resp=%+v", strict, err, ctResp)
		}
		if code := produce(strict, clientBatch(t, 0, now-3600*1000, 1, recs(0))); code != 32 {
			t.Errorf("timestamp an hour old on a topic allowing a minute: error code %d, want 32 INVALID_TIMESTAMP", code)
		}
		if code := produce(strict, clientBatch(t, 0, now, 1, recs(0))); code != 0 {
			t.Errorf("current timestamp on a topic allowing a minute: error code %d", code)
		}

		// Control: the well-formed batch is accepted and moves the end offset,
		// so the zeros above mean "rejected", not "broken produce path".
		if code := produce(topic, good); code != 0 {
			t.Fatalf("valid batch: error code %d", code)
		}
		if off := latest(); off != 1 {
			t.Fatalf("after one valid record: latest offset %d, want 1", off)
		}
	})

	// Whatever happened above, the broker still answers a real client.
	t.Run("StillServing", func(t *testing.T) {
		expectServing(t, addr)
		req := kmsg.NewPtrMetadataRequest()
		if _, err := req.RequestWith(ctxT(t, 10*time.Second), cl); err != nil {
			t.Fatalf("metadata after bad input: %v", err)
		}
	})
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// headerBytes is a request header: key, version, correlation id, client id,
// and for flexible versions an empty tag section.
func headerBytes(key, version int16, corr int32, clientID string, flexible bool) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if flexible {
		b = append(b, 0)
	}
	return b
}

func writeRaw(t *testing.T, conn net.Conn, b []byte) {
	t.Helper()
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func writeFrame(t *testing.T, conn net.Conn, frame []byte) {
	t.Helper()
	writeRaw(t, conn, append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...))
}

func readResponse(t *testing.T, conn net.Conn) (int32, []byte) {
	t.Helper()
	return readResponseFrom(t, conn, conn)
}

// readResponseFrom reads one response frame and returns its correlation id
// and everything after it.
func readResponseFrom(t *testing.T, conn net.Conn, r io.Reader) (int32, []byte) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n < 4 || n > 64<<20 {
		t.Fatalf("response size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("read response of %d bytes: %v", n, err)
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:]
}

// expectClosed asserts the broker closes the connection within 5 s without
// writing anything back.
func expectClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	got := 0
	for {
		n, err := conn.Read(buf)
		got += n
		if err == nil {
			continue
		}
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			if got > 0 {
				t.Errorf("%s: broker wrote %d bytes before closing, want none", what, got)
			}
			return
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("%s: connection still open after 5 s (read %d bytes)", what, got)
		default:
			t.Fatalf("%s: read: %v", what, err)
		}
	}
}

// expectServing opens a fresh connection and checks an ApiVersions v0
// round trip.
func expectServing(t *testing.T, addr string) {
	t.Helper()
	conn := dial(t, addr)
	defer conn.Close()
	writeFrame(t, conn, headerBytes(18, 0, 4711, "probe", false))
	corr, body := readResponse(t, conn)
	if corr != 4711 {
		t.Fatalf("probe: correlation id %d, sent 4711", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("probe: err=%v code=%d keys=%d", err, resp.ErrorCode, len(resp.ApiKeys))
	}
}

// recordBatch is one valid, uncompressed magic-2 batch holding one record
// with the given value, checked with kmsg as a client would read it back.
func recordBatch(t *testing.T, value []byte) []byte {
	t.Helper()
	raw := batchtest.OneRecord(nil, value, time.Now().UnixMilli())
	var check kmsg.RecordBatch
	if err := check.ReadFrom(raw); err != nil || int(check.Length) != len(raw)-recordbatch.LengthPrefix || check.NumRecords != 1 || !recordbatch.ValidCRC(raw) {
		t.Fatalf("built an invalid batch: %v", err)
	}
	return raw
}

// clientBatch is an uncompressed magic-2 batch with the given attributes
// that claims count records (lastOffsetDelta count-1) and holds recs, with
// a correct length and CRC-32C: what Validate accepts, for the client
// rules to judge.
func clientBatch(t *testing.T, attrs int16, firstTs int64, count int32, recs []kmsg.Record) []byte {
	t.Helper()
	var body []byte
	maxTs := firstTs
	for _, r := range recs {
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body = r.AppendTo(body)
		maxTs = max(maxTs, firstTs+r.TimestampDelta64)
	}
	b := kmsg.RecordBatch{
		Magic:           2,
		Attributes:      attrs,
		LastOffsetDelta: count - 1,
		FirstTimestamp:  firstTs,
		MaxTimestamp:    maxTs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      count,
		Records:         body,
	}
	b.Length = int32(recordbatch.HeaderSize - recordbatch.LengthPrefix + len(body))
	raw := b.AppendTo(nil)
	recordbatch.SetCRC(raw)
	return raw
}
