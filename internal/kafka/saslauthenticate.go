package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { starts(0, 2, (*Server).startSaslAuthenticate) }

// startSaslAuthenticate runs one step of the exchange on the reader
// goroutine, so that the next request is admitted against its outcome.
func (s *Server) startSaslAuthenticate(_ context.Context, req *request, body *kmsg.SASLAuthenticateRequest) func() kmsg.Response {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.SetVersion(req.version)
	c := req.sasl
	if !c.required || c.exchange == nil {
		// Kafka: SaslAuthenticate outside an exchange (no SASL on this
		// listener, or already authenticated) is an illegal state.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake on a SASL listener"
		resp.ErrorMessage = &msg
		return func() kmsg.Response { return resp }
	}
	out, lifetime, err := s.saslStep(req, body.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: invalid credentials with SASL mechanism " + c.mechanism
		resp.ErrorMessage = &msg
		return func() kmsg.Response { return resp }
	}
	resp.SASLAuthBytes = out
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return func() kmsg.Response { return resp }
}

// saslStep feeds one client token to the connection's exchange. When the
// exchange completes, the connection is authenticated (or re-authenticated
// as the same user) and the session lifetime returned; a failure is logged
// and marks the connection for closing once its answer is out.
func (s *Server) saslStep(req *request, token []byte) ([]byte, time.Duration, error) {
	c := req.sasl
	log := s.log.With().Str("remote", req.remoteHost).Str("listener", req.listener).Str("mechanism", c.mechanism).Logger()
	out, done, err := c.exchange.Step(token)
	if err == nil && done && c.authenticated && c.exchange.User() != c.user {
		err = errReauthPrincipal
	}
	if err != nil {
		log.Info().Err(err).Msg("SASL authentication failed; closing connection")
		c.exchange, c.closing = nil, true
		return nil, 0, err
	}
	if !done {
		return out, 0, nil
	}
	var lifetime time.Duration
	if s.cfg.SASL.MaxReauth > 0 {
		lifetime = s.cfg.SASL.MaxReauth
		c.sessionEnd = time.Now().Add(lifetime)
	}
	event := "authenticated"
	if c.authenticated {
		event = "re-authenticated"
	}
	c.user, c.authenticated, c.exchange = c.exchange.User(), true, nil
	log.Debug().Str("principal", c.principal()).Dur("session", lifetime).Msg("SASL " + event)
	return out, lifetime, nil
}
