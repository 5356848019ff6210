package sasl

import (
	"encoding/base64"
	"strings"
)

// maxMessage bounds a SCRAM message: user names and nonces are short, and
// a bound keeps a hostile client from making the parser work on megabytes.
const maxMessage = 4096

// ClientFirst is a parsed SCRAM client-first message.
type ClientFirst struct {
	GS2Header  string // "n,," or "n,a=authzid,", echoed in the final message
	User       string // decoded saslname
	Nonce      string
	Extensions map[string]string
	Bare       string // client-first-message-bare, part of the AuthMessage
}

// ParseClientFirst parses "gs2-header client-first-message-bare" (RFC 5802
// section 7). Channel binding is refused (Kafka does not support it), and
// an authorization id must name the authenticating user, as Kafka demands.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	if len(msg) > maxMessage {
		return cf, fail("SCRAM client-first message longer than %d bytes", maxMessage)
	}
	cbFlag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, fail("SCRAM client-first message without gs2 header")
	}
	switch cbFlag {
	case "n", "y":
	default:
		return cf, fail("SCRAM channel binding %q is not supported", cbFlag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, fail("SCRAM client-first message without gs2 header")
	}
	cf.GS2Header = cbFlag + "," + authz + ","
	cf.Bare = bare
	var authzid string
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return cf, fail("SCRAM gs2 header authorization %q", authz)
		}
		name, err := decodeName(v)
		if err != nil {
			return cf, err
		}
		authzid = name
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 {
		return cf, fail("SCRAM client-first message needs n= and r=")
	}
	if strings.HasPrefix(attrs[0], "m=") {
		return cf, fail("SCRAM mandatory extension %q is not supported", attrs[0])
	}
	v, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return cf, fail("SCRAM client-first message must start with n=")
	}
	user, err := decodeName(v)
	if err != nil {
		return cf, err
	}
	if user == "" {
		return cf, fail("SCRAM empty user name")
	}
	nonce, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || !printable(nonce) {
		return cf, fail("SCRAM client nonce missing or not printable")
	}
	if authzid != "" && authzid != user {
		return cf, fail("SCRAM authorization id %q differs from user %q", authzid, user)
	}
	cf.User, cf.Nonce = user, nonce
	cf.Extensions = map[string]string{}
	for _, a := range attrs[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return cf, fail("SCRAM extension %q is not key=value", a)
		}
		cf.Extensions[k] = v
	}
	return cf, nil
}

// ClientFinal is a parsed SCRAM client-final message.
type ClientFinal struct {
	ChannelBinding string // base64 as sent
	Nonce          string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof
}

// ParseClientFinal parses "c=...,r=...[,ext...],p=..." (RFC 5802 section 7).
func ParseClientFinal(msg string) (ClientFinal, error) {
	var cf ClientFinal
	if len(msg) > maxMessage {
		return cf, fail("SCRAM client-final message longer than %d bytes", maxMessage)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return cf, fail("SCRAM client-final message without proof")
	}
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return cf, fail("SCRAM proof is not base64")
	}
	cf.Proof = proof
	attrs := strings.Split(cf.WithoutProof, ",")
	if len(attrs) < 2 {
		return cf, fail("SCRAM client-final message needs c= and r=")
	}
	cb, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return cf, fail("SCRAM client-final message must start with c=")
	}
	nonce, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok {
		return cf, fail("SCRAM client-final message without r=")
	}
	cf.ChannelBinding, cf.Nonce = cb, nonce
	return cf, nil
}

// decodeName undoes saslname escaping: "=2C" is ',' and "=3D" is '='; any
// other '=' is malformed.
func decodeName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fail("SCRAM user name has a bad '=' escape")
		}
		i += 2
	}
	return b.String(), nil
}

// printable is RFC 5802's printable: %x21-2B / %x2D-7E (no comma).
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}
