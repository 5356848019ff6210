package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/sasl"
)

// SaslHandshake v0 is followed by bare SASL tokens (Kafka before 1.0,
// e.g. sarama's default), v1 by SaslAuthenticate requests. The v0 framing
// without any handshake (GSSAPI tokens as the first bytes, Kafka 0.9) is
// not supported.
func init() { starts(0, 1, (*Server).startSaslHandshake) }

// startSaslHandshake runs on the reader goroutine: the mechanism it picks
// decides how the next frames are read.
func (s *Server) startSaslHandshake(_ context.Context, req *request, body *kmsg.SASLHandshakeRequest) func() kmsg.Response {
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.SetVersion(req.version)
	c := req.sasl
	enabled := s.cfg.SASL.Mechanisms()
	resp.SupportedMechanisms = enabled
	switch {
	case !c.required:
		// As Kafka: a handshake on a listener without SASL is refused, and
		// the connection stays open.
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case c.authenticated && s.cfg.SASL.MaxReauth == 0:
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case c.exchange != nil && !c.authenticated:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closing = true
	case !slices.Contains(enabled, body.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closing = true
	case c.authenticated && body.Mechanism != c.mechanism:
		// KIP-368: a re-authentication keeps the mechanism.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closing = true
	default:
		ex, err := sasl.NewExchange(body.Mechanism, s.scramCredential)
		if err != nil { // enabled mechanisms are validated at start
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			c.closing = true
			break
		}
		c.mechanism, c.exchange, c.raw = body.Mechanism, ex, req.version == 0
	}
	return func() kmsg.Response { return resp }
}
