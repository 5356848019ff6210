package config

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/longboat/longboat/internal/sasl"
)

// DefaultSASLMechanisms is --sasl-enabled-mechanisms' default. Kafka's is
// GSSAPI, which this broker does not implement; SCRAM comes first because
// the password never crosses the wire, PLAIN last for clients and tools
// that have nothing else (on SASL_SSL its password is protected by TLS).
var DefaultSASLMechanisms = []string{sasl.ScramSHA512, sasl.ScramSHA256, sasl.Plain}

// SASL is how SASL_PLAINTEXT and SASL_SSL listeners authenticate.
type SASL struct {
	// EnabledMechanisms, in the order the handshake lists them; nil means
	// DefaultSASLMechanisms.
	EnabledMechanisms []string
	// BootstrapScram are the --bootstrap-scram-users credentials, by user
	// then mechanism, derived at start so that no password is kept.
	BootstrapScram map[string]map[string]sasl.Credential
	// MaxReauth is connections.max.reauth.ms (KIP-368): an authenticated
	// session lasts this long, then the client must re-authenticate; 0
	// means sessions never expire.
	MaxReauth time.Duration
}

// Mechanisms returns the enabled mechanisms.
func (s SASL) Mechanisms() []string {
	if s.EnabledMechanisms == nil {
		return DefaultSASLMechanisms
	}
	return s.EnabledMechanisms
}

// saslFlags holds the raw SASL flags until parseSASL checks them.
type saslFlags struct {
	mechanisms, users string
	reauthMs          int64
}

func (f *saslFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mechanisms, "sasl-enabled-mechanisms", strings.Join(DefaultSASLMechanisms, ","), "SASL mechanisms SASL_PLAINTEXT and SASL_SSL listeners accept, among SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN (sasl.enabled.mechanisms)")
	fs.StringVar(&f.users, "bootstrap-scram-users", "", "user:password,... created with SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096 iterations) when the cluster is first formed; ignored once __meta exists. Passwords cannot hold commas; prefer the LONGBOAT_BOOTSTRAP_SCRAM_USERS variable, which ps does not show")
	fs.Int64Var(&f.reauthMs, "connections-max-reauth-ms", 0, "lifetime of a SASL session (KIP-368): clients re-authenticate before it ends and a connection whose session expired is closed at its next request; 0 for sessions that never expire (connections.max.reauth.ms)")
}

// parse validates the SASL flags into c.SASL.
func (f *saslFlags) parse(c *Config) []error {
	var errs []error
	c.SASL.EnabledMechanisms = []string{}
	for _, m := range strings.Split(f.mechanisms, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		switch {
		case m == "":
		case m != sasl.Plain && !sasl.IsScram(m):
			errs = append(errs, fmt.Errorf("--sasl-enabled-mechanisms: %q is not supported; use SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", m))
		case !slices.Contains(c.SASL.EnabledMechanisms, m):
			c.SASL.EnabledMechanisms = append(c.SASL.EnabledMechanisms, m)
		}
	}
	if len(c.SASL.EnabledMechanisms) == 0 {
		errs = append(errs, errors.New("--sasl-enabled-mechanisms names no mechanism; use e.g. SCRAM-SHA-512,SCRAM-SHA-256"))
	}
	if f.reauthMs < 0 {
		errs = append(errs, fmt.Errorf("--connections-max-reauth-ms %d: use 0 (no expiry) or a positive number of milliseconds", f.reauthMs))
	}
	c.SASL.MaxReauth = time.Duration(f.reauthMs) * time.Millisecond
	users, err := ParseScramUsers(f.users)
	if err != nil {
		errs = append(errs, fmt.Errorf("--bootstrap-scram-users: %w", err))
	}
	c.SASL.BootstrapScram = users
	return errs
}

// ParseScramUsers derives both SCRAM credentials of each user:password.
func ParseScramUsers(s string) (map[string]map[string]sasl.Credential, error) {
	out := map[string]map[string]sasl.Credential{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		user, password, ok := strings.Cut(part, ":")
		user = strings.TrimSpace(user)
		if !ok || user == "" || password == "" {
			return nil, errors.New("want user:password,... with a non-empty user and password each")
		}
		if _, dup := out[user]; dup {
			return nil, fmt.Errorf("user %q appears twice", user)
		}
		out[user] = map[string]sasl.Credential{}
		for _, m := range sasl.ScramMechanisms {
			cred, err := sasl.NewCredential(m, password, sasl.MinIterations)
			if err != nil {
				return nil, fmt.Errorf("user %q: %w", user, err)
			}
			out[user][m] = cred
		}
	}
	return out, nil
}
