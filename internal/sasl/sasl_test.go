package sasl

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	kplain "github.com/twmb/franz-go/pkg/sasl/plain"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

// store holds alice's credentials for both SCRAM mechanisms.
func store(t *testing.T, password string) Lookup {
	t.Helper()
	creds := map[string]Credential{}
	for _, m := range ScramMechanisms {
		c, err := NewCredential(m, password, MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		creds[m] = c
	}
	return func(user, m string) (Credential, bool) {
		if user != "alice" {
			return Credential{}, false
		}
		c, ok := creds[m]
		return c, ok
	}
}

// run drives franz-go's client mechanism against an Exchange, as the
// broker's SaslAuthenticate round trips do.
func run(t *testing.T, client sasl.Mechanism, lookup Lookup) (string, error) {
	t.Helper()
	ex, err := NewExchange(client.Name(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	sess, in, err := client.Authenticate(context.Background(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		out, done, err := ex.Step(in)
		if err != nil {
			return "", err
		}
		clientDone, next, cerr := sess.Challenge(out)
		if cerr != nil {
			t.Fatalf("client rejected the server's answer: %v", cerr)
		}
		if done {
			if !clientDone {
				t.Fatal("server done, client not")
			}
			return ex.User(), nil
		}
		in = next
	}
	t.Fatal("exchange did not finish")
	return "", nil
}

func TestExchangesWithFranzGoClients(t *testing.T) {
	lookup := store(t, "s3cret")
	mechs := func(user, pass string) []sasl.Mechanism {
		return []sasl.Mechanism{
			kscram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
			kscram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
			kplain.Auth{User: user, Pass: pass}.AsMechanism(),
		}
	}
	for _, m := range mechs("alice", "s3cret") {
		user, err := run(t, m, lookup)
		if err != nil || user != "alice" {
			t.Errorf("%s good password: user %q, err %v", m.Name(), user, err)
		}
	}
	for _, c := range []struct{ user, pass string }{{"alice", "wrong"}, {"mallory", "s3cret"}} {
		for _, m := range mechs(c.user, c.pass) {
			user, err := run(t, m, lookup)
			if !errors.Is(err, ErrAuthentication) || user != "" {
				t.Errorf("%s %s/%s: user %q, err %v; want an authentication failure", m.Name(), c.user, c.pass, user, err)
			}
		}
	}
}

// TestScramUnknownUserLooksKnown: the server-first message for an unknown
// user has the same shape and a stable salt, so it does not reveal that
// the user is missing.
func TestScramUnknownUserLooksKnown(t *testing.T) {
	lookup := store(t, "pw")
	first := func() string {
		ex, _ := NewExchange(ScramSHA256, lookup)
		out, _, err := ex.Step([]byte("n,,n=mallory,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := first(), first()
	salt := func(s string) string { return s[len("r=abc")+32+1:] }
	if salt(a) != salt(b) {
		t.Errorf("decoy salts differ: %q vs %q", a, b)
	}
}

func TestParseClientFirst(t *testing.T) {
	cf, err := ParseClientFirst("n,a=a=3Db,n=a=3Db,r=nonce,tokenauth=true")
	if err != nil || cf.User != "a=b" || cf.Nonce != "nonce" || cf.Extensions["tokenauth"] != "true" || cf.GS2Header != "n,a=a=3Db," {
		t.Fatalf("%+v, %v", cf, err)
	}
	for _, bad := range []string{"", "p=tls-unique,,n=a,r=x", "n,,n=a", "n,,n=a=2X,r=x", "n,a=b,n=a,r=x", "n,,m=x,n=a,r=x", "n,,n=,r=x", "n,,n=a,r=a b"} {
		if _, err := ParseClientFirst(bad); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%q: err %v, want an authentication failure", bad, err)
		}
	}
}

func TestParsePlain(t *testing.T) {
	if _, u, p, err := ParsePlain([]byte("\x00bob\x00pw")); err != nil || u != "bob" || p != "pw" {
		t.Fatalf("%q %q %v", u, p, err)
	}
	for _, bad := range []string{"bob\x00pw", "\x00\x00pw", "\x00bob\x00", "a\x00b\x00c\x00d"} {
		if _, _, _, err := ParsePlain([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ex, _ := NewExchange(Plain, store(t, "pw"))
	if _, _, err := ex.Step([]byte("bob\x00alice\x00pw")); err == nil {
		t.Error("PLAIN with another authorization id accepted")
	}
}

// TestScramFinalNonceAsLibrdkafkaSendsIt: librdkafka repeats its own nonce
// before the server's combined one; Kafka accepts that (it checks the
// suffix), and so must this server, while a final nonce without the
// server's part fails.
func TestScramFinalNonceAsLibrdkafkaSendsIt(t *testing.T) {
	lookup := store(t, "pw")
	cred, _ := lookup("alice", ScramSHA256)
	exchange := func(prefix bool, tamper string) error {
		ex, _ := NewExchange(ScramSHA256, lookup)
		firstBare := "n=alice,r=cnonce"
		first, _, err := ex.Step([]byte("n,," + firstBare))
		if err != nil {
			t.Fatal(err)
		}
		nonce := strings.TrimPrefix(strings.Split(string(first), ",")[0], "r=")
		if prefix {
			nonce = "cnonce" + nonce
		}
		nonce += tamper
		withoutProof := "c=biws,r=" + nonce
		salted, _ := SaltedPassword(ScramSHA256, "pw", cred.Salt, cred.Iterations)
		clientKey := mac(sha256.New, salted, []byte("Client Key"))
		sig := mac(sha256.New, cred.StoredKey, []byte(firstBare+","+string(first)+","+withoutProof))
		for i := range sig {
			sig[i] ^= clientKey[i]
		}
		_, done, err := ex.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(sig)))
		if err == nil && !done {
			t.Fatal("not done after the final message")
		}
		return err
	}
	if err := exchange(false, ""); err != nil {
		t.Errorf("RFC 5802 final nonce: %v", err)
	}
	if err := exchange(true, ""); err != nil {
		t.Errorf("librdkafka's final nonce: %v", err)
	}
	if err := exchange(true, "x"); !errors.Is(err, ErrAuthentication) {
		t.Errorf("final nonce not ending with the server's: %v", err)
	}
}
