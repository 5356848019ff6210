package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/longboat/longboat/internal/sasl"
	"github.com/longboat/longboat/internal/tlscert"
)

// saslConn is one connection's SASL state. Only the connection's reader
// goroutine touches it: the gate runs there as each request is decoded,
// and SaslHandshake and SaslAuthenticate do their work there (see
// starts), so that a request is admitted against the state every earlier
// request left.
type saslConn struct {
	required  bool   // the listener is SASL_PLAINTEXT or SASL_SSL
	mechanism string // chosen by the last SaslHandshake
	exchange  sasl.Exchange
	// raw: a SaslHandshake v0 was answered, so the next frames are bare
	// SASL tokens rather than SaslAuthenticate requests (Kafka before 1.0).
	raw           bool
	authenticated bool
	user          string
	sessionEnd    time.Time // zero: the session never expires
	// closing: the exchange failed; the connection closes once the
	// failure's response is out.
	closing bool
}

// principal is the authenticated User:name, for the authorizer.
func (c *saslConn) principal() string {
	if !c.authenticated {
		return tlscert.Anonymous
	}
	return "User:" + c.user
}

// admit tells why a request may not run on this connection now (Kafka
// closes the connection then, without a response); "" admits it.
func (c *saslConn) admit(key int16, now time.Time) string {
	if !c.required {
		return ""
	}
	if c.closing {
		return "request after a failed SASL authentication"
	}
	switch {
	case !c.authenticated && c.exchange == nil:
		if key == keyApiVersions || key == keySaslHandshake {
			return ""
		}
		return fmt.Sprintf("%s before SASL authentication (only ApiVersions and SaslHandshake are allowed)", apiName(key))
	case !c.authenticated:
		if key == keySaslAuthenticate {
			return ""
		}
		return fmt.Sprintf("%s during SASL authentication (only SaslAuthenticate is allowed)", apiName(key))
	case key == keySaslHandshake:
		return "" // re-authentication (KIP-368) starts with a handshake
	case !c.sessionEnd.IsZero() && now.After(c.sessionEnd) && !(key == keySaslAuthenticate && c.exchange != nil):
		return fmt.Sprintf("%s after the SASL session expired at %s without re-authentication", apiName(key), c.sessionEnd.Format(time.RFC3339Nano))
	}
	return ""
}

// Keys of the APIs the gate lets through before authentication.
const (
	keySaslHandshake    int16 = 17
	keyApiVersions      int16 = 18
	keySaslAuthenticate int16 = 36
)

// scramCredential looks a credential up in the current __meta view.
func (s *Server) scramCredential(user, mechanism string) (sasl.Credential, bool) {
	return s.node.Meta().ScramCredential(user, mechanism)
}

// errReauthPrincipal: KIP-368 lets a re-authentication renew a session,
// not change who the connection is.
var errReauthPrincipal = errors.New("re-authentication as another user")

// rawSASLToken answers a bare SASL token, which follows SaslHandshake v0:
// the answer is the server's token with a size prefix and no response
// header; a failure closes the connection without an answer, as Kafka.
func (s *Server) rawSASLToken(c *saslConn, listener, remoteHost string, token []byte) slot {
	sl := slot{frame: make(chan []byte, 1), size: int64(len(token))}
	out, _, err := s.saslStep(&request{listener: listener, remoteHost: remoteHost, sasl: c}, token)
	if err != nil {
		c.raw = false // closing: nothing more is read as a token
		sl.frame <- closeFrame
		return sl
	}
	if c.exchange == nil { // done: Kafka requests follow
		c.raw = false
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(out)), uint32(len(out)))
	sl.frame <- append(frame, out...)
	return sl
}
