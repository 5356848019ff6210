package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Security protocols of a listener (Kafka's security.protocol values).
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// --tls-client-auth values (Kafka's ssl.client.auth).
const (
	TLSClientAuthNone      = "none"
	TLSClientAuthRequested = "requested"
	TLSClientAuthRequired  = "required"
)

// TLS is where SSL listeners find their certificates.
type TLS struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
	ClientAuth   string // none, requested or required
	// ListenerClientAuth overrides ClientAuth per listener name.
	ListenerClientAuth map[string]string
}

// ClientAuthOf is the client-certificate mode of the named listener.
func (t TLS) ClientAuthOf(listener string) string {
	if m, ok := t.ListenerClientAuth[listener]; ok {
		return m
	}
	return t.ClientAuth
}

func knownClientAuth(m string) bool {
	return m == TLSClientAuthNone || m == TLSClientAuthRequested || m == TLSClientAuthRequired
}

// parseListenerClientAuth parses NAME:MODE,...; names are checked against
// the listeners in validateSecurity.
func parseListenerClientAuth(s string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, mode, ok := strings.Cut(part, ":")
		name, mode = strings.ToUpper(strings.TrimSpace(name)), strings.ToLower(strings.TrimSpace(mode))
		switch {
		case !ok || !listenerNameRE.MatchString(name):
			errs = append(errs, fmt.Errorf("%q: want NAME:MODE, e.g. EXTERNAL:none,INTERNAL:required", part))
		case !knownClientAuth(mode):
			errs = append(errs, fmt.Errorf("%q: mode must be none, requested or required", part))
		case out[name] != "":
			errs = append(errs, fmt.Errorf("listener %s is given twice", name))
		default:
			out[name] = mode
		}
	}
	return out, errors.Join(errs...)
}

// UsesTLS reports whether a listener protocol runs over TLS.
func UsesTLS(protocol string) bool {
	return protocol == ProtocolSSL || protocol == ProtocolSASLSSL
}

func knownProtocol(p string) bool {
	switch p {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		return true
	}
	return false
}

// resolveProtocols sets each listener's Protocol: Kafka's default map (each
// protocol name to itself) overlaid with the NAME:PROTOCOL pairs of m.
// Without m, other names are PLAINTEXT, as every listener was before the
// map existed (the appliance's INTERNAL and EXTERNAL); with m, a name it
// leaves out is an error, so that a misspelt name cannot fall back to
// plaintext.
func resolveProtocols(ls []Listener, m string) error {
	protocols := map[string]string{}
	for _, p := range []string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL} {
		protocols[p] = p
	}
	var errs []error
	for _, part := range strings.Split(m, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, proto, ok := strings.Cut(part, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || !listenerNameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("%q: want NAME:PROTOCOL, e.g. INTERNAL:PLAINTEXT,EXTERNAL:SSL", part))
			continue
		}
		if !knownProtocol(proto) {
			errs = append(errs, fmt.Errorf("%q: protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", part))
			continue
		}
		protocols[name] = proto
	}
	for i := range ls {
		p, ok := protocols[ls[i].Name]
		if !ok && strings.TrimSpace(m) == "" {
			p, ok = ProtocolPlaintext, true
		}
		if !ok {
			errs = append(errs, fmt.Errorf("listener %s has no security protocol: add %s:PLAINTEXT or %s:SSL", ls[i].Name, ls[i].Name, ls[i].Name))
			continue
		}
		ls[i].Protocol = p
	}
	return errors.Join(errs...)
}

// InternalListener is the listener the broker's own clients use (the
// transaction coordinator's markers to partition leaders, the web console):
// INTERNAL when there is one (the appliance's container network; EXTERNAL
// advertises the host's ports), else the first PLAINTEXT one, else the
// first. Its protocol decides whether they dial TLS.
func (c *Config) InternalListener() Listener {
	for _, l := range c.Listeners {
		if l.Name == "INTERNAL" {
			return l
		}
	}
	for _, l := range c.Listeners {
		if l.Protocol == ProtocolPlaintext {
			return l
		}
	}
	return c.Listeners[0]
}

// validateSecurity checks the listeners' protocols against the TLS flags.
// Loading the files (key matching certificate) happens when the broker
// starts, in tlscert.Load.
func (c *Config) validateSecurity() []error {
	var errs []error
	needTLS := ""
	for _, l := range c.Listeners {
		switch {
		case UsesTLS(l.Protocol):
			needTLS = l.Name
		case l.Protocol != ProtocolPlaintext && l.Protocol != ProtocolSASLPlaintext:
			errs = append(errs, fmt.Errorf("listener %s has no known security protocol (%q): map it in --listener-security-protocol-map", l.Name, l.Protocol))
		}
	}
	// The broker's own clients have no SASL credentials.
	if len(c.Listeners) > 0 && len(errs) == 0 {
		if in := c.InternalListener(); in.Protocol == ProtocolSASLPlaintext || in.Protocol == ProtocolSASLSSL {
			errs = append(errs, fmt.Errorf("listener %s is %s, but the broker's own clients (transaction markers, web console) use it and cannot authenticate: add a PLAINTEXT or SSL listener named INTERNAL", in.Name, in.Protocol))
		}
	}
	if !knownClientAuth(c.TLS.ClientAuth) {
		errs = append(errs, fmt.Errorf("--tls-client-auth %q: use none, requested or required", c.TLS.ClientAuth))
	}
	needCA := ""
	for name := range c.TLS.ListenerClientAuth {
		var l *Listener
		for i := range c.Listeners {
			if c.Listeners[i].Name == name {
				l = &c.Listeners[i]
			}
		}
		switch {
		case l == nil:
			errs = append(errs, fmt.Errorf("--listener-tls-client-auth names %s, which is not in --listeners: use a listener's name", name))
		case !UsesTLS(l.Protocol):
			errs = append(errs, fmt.Errorf("--listener-tls-client-auth names %s, a %s listener: client certificates exist only on SSL and SASL_SSL listeners; remove it or map the listener to SSL", name, l.Protocol))
		}
	}
	for _, l := range c.Listeners {
		if UsesTLS(l.Protocol) && c.TLS.ClientAuthOf(l.Name) != TLSClientAuthNone && needCA == "" {
			needCA = l.Name
		}
	}
	if needTLS == "" {
		return errs
	}
	if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
		errs = append(errs, fmt.Errorf("listener %s is SSL: set --tls-cert-file and --tls-key-file (PEM)", needTLS))
	}
	if needCA != "" && c.TLS.ClientCAFile == "" {
		errs = append(errs, fmt.Errorf("listener %s asks for client certificates (--tls-client-auth %s): set --tls-client-ca-file to the CA that signs them", needCA, c.TLS.ClientAuthOf(needCA)))
	}
	for _, f := range [][2]string{{"--tls-cert-file", c.TLS.CertFile}, {"--tls-key-file", c.TLS.KeyFile}, {"--tls-client-ca-file", c.TLS.ClientCAFile}} {
		if f[1] == "" {
			continue
		}
		if _, err := os.ReadFile(f[1]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f[0], err))
		}
	}
	return errs
}
