package kafka_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestHostileClients drives one real broker, in this process, with clients
// that try to make it hold connections and memory, while a franz-go client
// keeps producing; the heap in use must not grow by more than heapGrowth
// over what the test binary held when it began.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and thousands of connections")
	}
	const (
		heapGrowth  = 384 << 20
		maxConns    = 1500
		maxPerIP    = 1000
		idle        = 5 * time.Second
		writeStall  = 2 * time.Second
		inflightCap = 64 << 20
		maxRequest  = 16 << 20
	)
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: func(cfg *config.Config) {
		cfg.MaxConnections, cfg.MaxConnectionsPerIP = maxConns, maxPerIP
		cfg.MaxInflightRequestBytes, cfg.MaxRequestBytes = inflightCap, maxRequest
		cfg.ConnectionsMaxIdle, cfg.ConnectionWriteTimeout = idle, writeStall
	}})
	addr := c.Addrs()[0]
	srv := c.Brokers[0].Kafka
	openConns := func() int64 {
		var n int64
		for _, v := range srv.ConnectionCounts() {
			n += v
		}
		return n
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peakHeap atomic.Uint64
	var peakConns atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			if n := openConns(); n > peakConns.Load() {
				peakConns.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() {
		close(stop)
		watch.Wait()
		t.Logf("heap in use %d MiB at the start, peak %d MiB; peak connections %d", base.HeapInuse>>20, peakHeap.Load()>>20, peakConns.Load())
		if peakHeap.Load() > base.HeapInuse+heapGrowth {
			t.Errorf("heap in use grew from %d MiB to %d MiB, more than %d MiB", base.HeapInuse>>20, peakHeap.Load()>>20, heapGrowth>>20)
		}
	}()

	const topic = "hostile-ok"
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t, 20*time.Second), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produce := func(what string, value []byte) {
		t.Helper()
		if err := cl.ProduceSync(ctxT(t, 20*time.Second), &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatalf("well-behaved produce %s: %v", what, err)
		}
	}
	produce("before", []byte("before"))

	t.Run("ConnectionFlood", func(t *testing.T) {
		// 3000 connections from two loopback addresses: the first fills its
		// per-address share, the second the broker-wide limit.
		var conns []net.Conn
		defer func() {
			for _, conn := range conns {
				conn.Close()
			}
		}()
		deadline := time.Now().Add(60 * time.Second)
		for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
			for i := 0; i < 1500 && time.Now().Before(deadline); i++ {
				conn, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial %d from %s: %v", i, src, err)
				}
				conns = append(conns, conn)
			}
		}
		time.Sleep(500 * time.Millisecond) // let the accept loop catch up
		if n := openConns(); n > maxConns {
			t.Errorf("%d connections open, limit %d", n, maxConns)
		}
		produce("during the flood", []byte("flood"))
		perIP, total := rejected(t, c, "max_connections_per_ip"), rejected(t, c, "max_connections")
		if perIP < 400 || total < 400 {
			t.Errorf("rejected %.0f over the per-address limit and %.0f over the total, want at least 400 each", perIP, total)
		}
		// The flood sends nothing, so it is idle and closed.
		waitFor(t, idle+10*time.Second, "idle flood connections closed", func() bool { return openConns() < 50 })
		produce("after the flood", []byte("after flood"))
	})

	t.Run("TrickledFrames", func(t *testing.T) {
		// Each announces a 16 MiB Produce and sends a little at a time: the
		// broker holds only what arrived, so it keeps serving, and the idle
		// timeout closes them once they stop.
		var conns []net.Conn
		for i := 0; i < 40; i++ {
			conn := dial(t, addr)
			b := binary.BigEndian.AppendUint32(nil, maxRequest)
			writeRaw(t, conn, append(b, headerBytes(0, 7, int32(i), "trickle", false)...))
			conns = append(conns, conn)
		}
		piece := bytes.Repeat([]byte{0x55}, 4096)
		for round := 0; round < 20; round++ {
			for _, conn := range conns {
				writeRaw(t, conn, piece)
			}
			time.Sleep(100 * time.Millisecond)
		}
		produce("beside trickled frames", []byte("trickle"))
		if used := srv.InflightRequestBytes(); used > 40*(1<<20)+1<<20 {
			t.Errorf("trickled frames hold %d request bytes in flight, more than one piece each", used)
		}
		for i, conn := range conns {
			// Reading, not writing: a byte written would be a byte of the frame.
			conn.SetReadDeadline(time.Now().Add(idle + 10*time.Second))
			if n, err := conn.Read(make([]byte, 16)); n > 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("trickled frame %d: read %d bytes, %v; want the broker to close it", i, n, err)
			}
		}
		waitFor(t, 5*time.Second, "request bytes released", func() bool { return srv.InflightRequestBytes() == 0 })
	})

	t.Run("PipelineNeverRead", func(t *testing.T) {
		big := bytes.Repeat([]byte{0x33}, 900<<10)
		produce("a large record", big)
		conn := dial(t, addr)
		fetch := kmsg.NewPtrFetchRequest()
		fetch.SetVersion(4)
		fetch.ReplicaID, fetch.MaxBytes, fetch.MinBytes = -1, 1<<20, 1
		part := kmsg.NewFetchRequestTopicPartition()
		part.PartitionMaxBytes = 1 << 20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.Partitions = topic, []kmsg.FetchRequestTopicPartition{part}
		fetch.Topics = []kmsg.FetchRequestTopic{ft}
		// Long client ids make the requests big enough to fill the sockets.
		format := kmsg.NewRequestFormatter(kmsg.FormatterClientID(string(bytes.Repeat([]byte{'n'}, 30<<10))))
		sent := 0
		for ; sent < 2000; sent++ {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := conn.Write(format.AppendRequest(nil, fetch, int32(sent))); err != nil {
				break // the broker stopped reading: its responses fill the socket
			}
		}
		if sent == 2000 {
			t.Fatalf("broker read 2000 pipelined fetches of ~1 MiB answers without blocking")
		}
		// Requests stay in flight, so only the write timeout can end it.
		expectEnded(t, conn, writeStall+10*time.Second, "client that never reads")
		waitFor(t, 5*time.Second, "request bytes released", func() bool { return srv.InflightRequestBytes() == 0 })
		expectServing(t, addr)
	})

	t.Run("LongPollIsNotIdle", func(t *testing.T) {
		// A Fetch waiting longer than the idle timeout for bytes that never
		// come is a request in flight: the connection stays open for its answer.
		conn := dial(t, addr)
		fetch := kmsg.NewPtrFetchRequest()
		fetch.SetVersion(4)
		fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = -1, int32((idle + 3*time.Second).Milliseconds()), 64<<20, 1<<20
		part := kmsg.NewFetchRequestTopicPartition()
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctxT(t, 10*time.Second), topic)
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(topic, 0)
		part.FetchOffset, part.PartitionMaxBytes = end.Offset, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.Partitions = topic, []kmsg.FetchRequestTopicPartition{part}
		fetch.Topics = []kmsg.FetchRequestTopic{ft}
		writeRaw(t, conn, kmsg.NewRequestFormatter().AppendRequest(nil, fetch, 5150))
		conn.SetReadDeadline(time.Now().Add(idle + 15*time.Second))
		var head [8]byte
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			t.Fatalf("long poll of %v with idle timeout %v: %v", idle+3*time.Second, idle, err)
		}
		if corr := binary.BigEndian.Uint32(head[4:]); corr != 5150 {
			t.Fatalf("long poll answered with correlation id %d, sent 5150", corr)
		}
	})

	t.Run("HugeDeclaredArrays", func(t *testing.T) {
		// Requests whose first field is an array: Metadata v4, CreateTopics
		// v4, DeleteTopics v3, DescribeConfigs v2, DeleteGroups v1.
		arrays := bytes.Repeat([]byte{0x7f, 0xff, 0xff, 0xff}, 16)
		kinds := [][2]int16{{3, 4}, {19, 4}, {20, 3}, {32, 2}, {42, 1}}
		for i := 0; i < 200; i++ {
			k := kinds[i%len(kinds)]
			conn := dial(t, addr)
			writeFrame(t, conn, append(headerBytes(k[0], k[1], int32(i), "arrays", false), arrays...))
			expectClosed(t, conn, "declared 2^31 elements")
		}
		expectServing(t, addr)
	})

	t.Run("ConcurrentLargeFrames", func(t *testing.T) {
		// Six 12 MiB Produce frames at once pass the 64 MiB budget together:
		// halfway through, every one waits for room; the oldest goes on.
		produce := kmsg.NewPtrProduceRequest()
		produce.SetVersion(7)
		produce.Acks, produce.TimeoutMillis = -1, 5000
		part := kmsg.NewProduceRequestTopicPartition()
		part.Records = bytes.Repeat([]byte{0x44}, 12<<20)
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic, pt.Partitions = topic, []kmsg.ProduceRequestTopicPartition{part}
		produce.Topics = []kmsg.ProduceRequestTopic{pt}
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, produce, 77)
		errs := make(chan error, 6)
		start := make(chan struct{})
		for i := 0; i < 6; i++ {
			conn := dial(t, addr)
			go func() {
				<-start
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				// A piece at a time, so that every frame is halfway in at once.
				for off := 0; off < len(frame); off += 1 << 20 {
					if _, err := conn.Write(frame[off:min(len(frame), off+1<<20)]); err != nil {
						errs <- err
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				var sz [8]byte
				_, err := io.ReadFull(conn, sz[:])
				if err == nil && binary.BigEndian.Uint32(sz[4:]) != 77 {
					err = errors.New("wrong correlation id")
				}
				errs <- err
			}()
		}
		close(start)
		for i := 0; i < 6; i++ {
			if err := <-errs; err != nil {
				t.Errorf("large frame %d: %v", i, err)
			}
		}
		waitFor(t, 5*time.Second, "request bytes released", func() bool { return srv.InflightRequestBytes() == 0 })
	})

	t.Run("AmplifyingFrames", func(t *testing.T) {
		// 1 MiB of empty Produce topics, three bytes each, decode to about
		// 22 MiB: past socket.request.max.bytes, so refused.
		const topics = 1 << 20 / 3
		body := []byte{0, 0xff, 0xff, 0, 0, 0x75, 0x30}
		body = binary.AppendUvarint(body, topics+1)
		body = append(body, bytes.Repeat([]byte{1, 1, 0}, topics)...)
		body = append(body, 0)
		for i := 0; i < 3; i++ {
			conn := dial(t, addr)
			writeFrame(t, conn, append(headerBytes(0, 9, int32(i), "", true), body...))
			expectClosed(t, conn, "amplifying produce")
		}
		expectServing(t, addr)
	})

	produce("at the end", []byte("end"))
}

// rejected reads longboat_kafka_connections_rejected_total for reason.
func rejected(t *testing.T, c *testcluster.Cluster, reason string) float64 {
	t.Helper()
	families, err := c.Brokers[0].Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "longboat_kafka_connections_rejected_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// expectEnded asserts the broker ends conn within limit, without reading
// what it sent: writes fail once the broker has closed its side. Each probe
// is a whole ApiVersions request, so one the broker reads changes nothing.
func expectEnded(t *testing.T, conn net.Conn, limit time.Duration, what string) {
	t.Helper()
	frame := headerBytes(18, 0, 1, "probe", false)
	probe := append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := conn.Write(probe)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return
		}
	}
	t.Fatalf("%s: connection still open after %v", what, limit)
}
