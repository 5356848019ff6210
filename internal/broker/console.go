package broker

import (
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/console"
)

// consoleSeed is the address the console dials this broker's own Kafka
// listener on: one listener only, because its client uses one dial setup
// (TLS or not) for every broker it then learns of.
func consoleSeed(l config.Listener) string {
	host := l.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(l.Port))
}

// consoleLocal is what the console reads from this broker directly.
type consoleLocal struct{ b *Broker }

func (l consoleLocal) NodeID() int32 { return int32(l.b.cfg.NodeID) }

func (l consoleLocal) Ready() bool {
	return !l.b.stopping.Load() && l.b.Node.CheckReadiness(500*time.Millisecond).Ready()
}

func (l consoleLocal) DownBrokers() map[uint64]bool { return l.b.Node.DownBrokers() }

func (l consoleLocal) LogSize(topic string, partition int32) (int64, bool) {
	p, ok := l.b.Node.PartitionByName(topic, partition)
	if !ok {
		return 0, false
	}
	return p.LogSize(), true
}

func (l consoleLocal) Counters() console.Counters {
	m := l.b.Metrics
	return console.Counters{BytesIn: sum(m.BytesIn), BytesOut: sum(m.BytesOut),
		RecordsIn: sum(m.RecordsProduced), RecordsOut: sum(m.RecordsFetched)}
}

// sum adds a counter vector's children: the per-topic counters summed are
// the broker's total.
func sum(v *prometheus.CounterVec) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		v.Collect(ch)
		close(ch)
	}()
	var total float64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil && d.Counter != nil {
			total += d.Counter.GetValue()
		}
	}
	return total
}

func (l consoleLocal) Offsets(topic string, partition int32) (start, end int64, ok bool) {
	p, ok := l.b.Node.PartitionByName(topic, partition)
	if !ok {
		return 0, 0, false
	}
	return p.LogStartOffset(), p.HighWatermark(), true
}
