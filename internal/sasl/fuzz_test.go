package sasl

import (
	"testing"
)

// FuzzExchange feeds arbitrary client tokens to every mechanism: the
// server must never panic and never authenticate without the password.
func FuzzExchange(f *testing.F) {
	f.Add(uint8(0), []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add(uint8(1), []byte("n,a=alice,n=alice,r=x,tokenauth=true"), []byte("c=biws,r=x,p="))
	f.Add(uint8(2), []byte("\x00alice\x00pw"), []byte(""))
	f.Add(uint8(0), []byte("y,,n=al=2Cice,r=%%"), []byte(",p=,p=="))
	creds := map[string]Credential{}
	for _, m := range ScramMechanisms {
		c, err := NewCredential(m, "correct horse", MinIterations)
		if err != nil {
			f.Fatal(err)
		}
		creds[m] = c
	}
	lookup := func(user, m string) (Credential, bool) {
		c, ok := creds[m]
		return c, ok && user == "alice"
	}
	mechs := []string{ScramSHA256, ScramSHA512, Plain}
	f.Fuzz(func(t *testing.T, which uint8, first, second []byte) {
		ex, err := NewExchange(mechs[int(which)%len(mechs)], lookup)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := ex.Step(first)
		if err != nil {
			return
		}
		if done {
			t.Fatalf("authenticated after one token %q", first)
		}
		if _, done, err = ex.Step(second); done || err == nil {
			t.Fatalf("authenticated without the password: %q %q", first, second)
		}
	})
}
