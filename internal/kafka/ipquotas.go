package kafka

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/quota"
)

// ipEntityError is why an entity with an ip part is refused, as Kafka's
// controller says it; "" for a valid one or one without an ip part.
// Host names are refused where Kafka resolves them: a broker that looked
// names up at every accept would stall on DNS, and one that looked them
// up once would hold a stale address.
func ipEntityError(e meta.QuotaEntity) string {
	switch {
	case !e.IP.Set:
		return ""
	case e.User.Set || e.ClientID.Set:
		return "Invalid quota entity combination, IP entity should not be combined with User or ClientId"
	case e.IP.Default:
		return ""
	}
	if _, err := netip.ParseAddr(e.IP.Name); err != nil {
		return e.IP.Name + " is not a valid IP address (host names are not resolved)"
	}
	return ""
}

// ipAlteration validates the operations, each of a distinct key, on an ip
// entity: Kafka allows connection_creation_rate alone there, an INT
// greater than 0.
func ipAlteration(e meta.QuotaEntity, ops []kmsg.AlterClientQuotasRequestEntryOp) (meta.QuotaAlteration, string) {
	a := meta.QuotaAlteration{Entity: e, Set: map[string]float64{}}
	for _, op := range ops {
		switch v := op.Value; {
		case op.Key != quota.ConnectionCreationRate:
			return a, "Invalid configuration key " + op.Key
		case op.Remove:
			a.Remove = append(a.Remove, op.Key)
		case math.IsNaN(v) || v <= 0:
			return a, fmt.Sprintf("Quota %s must be greater than 0", op.Key)
		case v > math.MaxInt32:
			return a, fmt.Sprintf("Proposed value for %s is too large for an INT.", op.Key)
		case math.Abs(v-math.Round(v)) > 1e-6:
			return a, op.Key + " cannot be a fractional value."
		default:
			a.Set[op.Key] = math.Round(v)
		}
	}
	return a, ""
}

// throttleConnection counts a new connection against its address's
// connection_creation_rate and, past it, holds the connection unread and
// closes it after the throttle delay, as Kafka's SocketServer does: closed
// at once, a client would reconnect at once, in a loop. It reports whether
// the connection was throttled. Without an ip quota, which is the common
// case, it costs one lookup in the metadata.
func (s *Server) throttleConnection(listener, host string, c net.Conn) bool {
	addr, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := meta.IPKey(addr.AddrPort().Addr())
	limit, ok := s.node.Meta().IPQuotaFor(quota.ConnectionCreationRate, ip)
	if !ok {
		return false
	}
	d := s.admission.rates.Admit(ip, limit, time.Now())
	if d <= 0 {
		return false
	}
	s.mu.Lock()
	s.conns[c] = struct{}{} // for Close, should the broker stop first
	s.mu.Unlock()
	time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	})
	s.throttled.WithLabelValues(quota.ConnectionCreationRate).Add(d.Seconds())
	s.admission.reject(listener, host, rejectConnectionRate)
	return true
}
