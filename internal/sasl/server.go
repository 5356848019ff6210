package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Lookup finds a user's stored credential for a SCRAM mechanism.
type Lookup func(user, mechanism string) (Credential, bool)

// ErrAuthentication is the error of every failed exchange; the wrapped
// detail is for the broker's log, never for the client (which learns only
// that authentication failed, so that it cannot tell an unknown user from
// a wrong password).
var ErrAuthentication = errors.New("authentication failed")

// Exchange is the server side of one authentication: Step takes each
// client token and returns the server's answer until done.
type Exchange interface {
	Step(in []byte) (out []byte, done bool, err error)
	// User is the authenticated user once the exchange is done.
	User() string
}

// NewExchange starts an exchange of mechanism against the credentials of
// lookup.
func NewExchange(mechanism string, lookup Lookup) (Exchange, error) {
	switch {
	case mechanism == Plain:
		return &plain{lookup: lookup}, nil
	case IsScram(mechanism):
		return &scram{mechanism: mechanism, lookup: lookup}, nil
	}
	return nil, fmt.Errorf("sasl: unsupported mechanism %q", mechanism)
}

func fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAuthentication, fmt.Sprintf(format, args...))
}

// plain checks "authzid NUL authcid NUL passwd" (RFC 4616) against the
// user's SCRAM credential: the password is salted with the stored salt and
// iterations and the StoredKey compared, so the same store serves both.
type plain struct {
	lookup Lookup
	user   string
}

func (p *plain) Step(in []byte) ([]byte, bool, error) {
	authzid, user, password, err := ParsePlain(in)
	if err != nil {
		return nil, false, err
	}
	if authzid != "" && authzid != user {
		return nil, false, fail("PLAIN authorization id %q differs from user %q", authzid, user)
	}
	for _, m := range ScramMechanisms {
		if c, ok := p.lookup(user, m); ok {
			if !verifyPassword(m, password, c) {
				return nil, false, fail("PLAIN: wrong password for user %q", user)
			}
			p.user = user
			return nil, true, nil
		}
	}
	// Spend the time a known user costs, so that timing does not tell
	// which users exist.
	verifyPassword(ScramSHA512, password, decoy(ScramSHA512, user))
	return nil, false, fail("PLAIN: unknown user %q", user)
}

func (p *plain) User() string { return p.user }

// ParsePlain splits a PLAIN message into its three fields; user and
// password must be non-empty and no field may hold NUL (RFC 4616), and
// Kafka's 255-byte limits apply.
func ParsePlain(in []byte) (authzid, user, password string, err error) {
	parts := strings.Split(string(in), "\x00")
	if len(parts) != 3 {
		return "", "", "", fail("PLAIN message has %d NUL-separated fields, want 3", len(parts))
	}
	authzid, user, password = parts[0], parts[1], parts[2]
	if user == "" || password == "" {
		return "", "", "", fail("PLAIN message without user or password")
	}
	if len(authzid) > 255 || len(user) > 255 || len(password) > 255 {
		return "", "", "", fail("PLAIN field longer than 255 bytes")
	}
	return authzid, user, password, nil
}

// scram is the server side of RFC 5802 without channel binding, as Kafka
// runs it: client-first, server-first, client-final, server-final.
type scram struct {
	mechanism string
	lookup    Lookup
	state     int // 0: want client-first, 1: want client-final, 2: done
	user      string
	known     bool
	cred      Credential
	gs2       string // the client's gs2 header, echoed base64 in c=
	nonce     string // client nonce + server nonce
	firstBare string
	first     string // server-first message
}

func (s *scram) User() string {
	if s.state != 2 {
		return ""
	}
	return s.user
}

func (s *scram) Step(in []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		cf, err := ParseClientFirst(string(in))
		if err != nil {
			return nil, false, err
		}
		s.user, s.gs2, s.firstBare = cf.User, cf.GS2Header, cf.Bare
		if cf.Extensions["tokenauth"] == "true" {
			return nil, false, fail("SCRAM delegation tokens are not supported")
		}
		s.cred, s.known = s.lookup(cf.User, s.mechanism)
		if !s.known {
			// Answer as for a user that exists, and fail at the proof, so
			// that the first message does not tell which users exist.
			s.cred = decoy(s.mechanism, cf.User)
		}
		s.nonce = cf.Nonce + serverNonce()
		s.first = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
		s.state = 1
		return []byte(s.first), false, nil
	case 1:
		s.state = 3 // one attempt: any failure ends the exchange
		cf, err := ParseClientFinal(string(in))
		if err != nil {
			return nil, false, err
		}
		if cf.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
			return nil, false, fail("SCRAM channel binding %q does not match the gs2 header", cf.ChannelBinding)
		}
		// Kafka checks only that the final nonce ends with the one it sent:
		// librdkafka sends its own nonce once more in front. The server
		// nonce, which makes the proof fresh, is there either way.
		if !strings.HasSuffix(cf.Nonce, s.nonce) {
			return nil, false, fail("SCRAM final nonce does not end with the server's")
		}
		h, _ := hashFor(s.mechanism)
		authMessage := []byte(s.firstBare + "," + s.first + "," + cf.WithoutProof)
		signature := mac(h, s.cred.StoredKey, authMessage)
		if len(cf.Proof) != len(signature) {
			return nil, false, fail("SCRAM proof of %d bytes, want %d", len(cf.Proof), len(signature))
		}
		clientKey := make([]byte, len(signature))
		for i := range signature {
			clientKey[i] = cf.Proof[i] ^ signature[i]
		}
		d := h()
		d.Write(clientKey)
		if !hmac.Equal(d.Sum(nil), s.cred.StoredKey) || !s.known {
			if !s.known {
				return nil, false, fail("%s: unknown user %q", s.mechanism, s.user)
			}
			return nil, false, fail("%s: wrong password for user %q", s.mechanism, s.user)
		}
		s.state = 2
		return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, s.cred.ServerKey, authMessage))), true, nil
	}
	return nil, false, fail("SCRAM exchange already finished")
}

// serverNonce is 24 random bytes, base64: printable and without commas.
func serverNonce() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// decoySecret keys the fake salts of unknown users: stable for a process,
// so that asking twice for one unknown user gives the same salt.
var decoySecret = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

// decoy is a credential no password matches, with a salt derived from the
// user name, for answering as if an unknown user existed.
func decoy(mechanism, user string) Credential {
	h, _ := hashFor(mechanism)
	return Credential{
		Salt:       mac(h, decoySecret, []byte("salt:"+user))[:32],
		Iterations: MinIterations,
		StoredKey:  mac(h, decoySecret, []byte("stored:"+user)),
		ServerKey:  mac(h, decoySecret, []byte("server:"+user)),
	}
}
