package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/sasl"
)

func TestSASLFlags(t *testing.T) {
	c, err := Parse([]string{"--sasl-enabled-mechanisms", "scram-sha-256, PLAIN", "--connections-max-reauth-ms", "60000"},
		func(k string) string {
			if k == "LONGBOAT_BOOTSTRAP_SCRAM_USERS" {
				return "admin:se:cret,bob:pw"
			}
			return ""
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{sasl.ScramSHA256, sasl.Plain}; !reflect.DeepEqual(c.SASL.Mechanisms(), want) {
		t.Errorf("mechanisms %v, want %v", c.SASL.Mechanisms(), want)
	}
	if c.SASL.MaxReauth != time.Minute {
		t.Errorf("reauth %v", c.SASL.MaxReauth)
	}
	for _, user := range []string{"admin", "bob"} {
		for _, m := range sasl.ScramMechanisms {
			if cred := c.SASL.BootstrapScram[user][m]; cred.Iterations != sasl.MinIterations || len(cred.StoredKey) == 0 {
				t.Errorf("%s %s: %+v", user, m, cred)
			}
		}
	}
	d, err := Parse(nil, func(string) string { return "" })
	if err != nil || !reflect.DeepEqual(d.SASL.Mechanisms(), DefaultSASLMechanisms) || len(d.SASL.BootstrapScram) != 0 {
		t.Errorf("defaults: %+v %v", d.SASL, err)
	}
}

func TestSASLFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sasl-enabled-mechanisms", "GSSAPI"}, `"GSSAPI" is not supported`},
		{[]string{"--sasl-enabled-mechanisms", ","}, "names no mechanism"},
		{[]string{"--bootstrap-scram-users", "admin"}, "want user:password"},
		{[]string{"--bootstrap-scram-users", "a:1,a:2"}, "appears twice"},
		{[]string{"--connections-max-reauth-ms", "-1"}, "--connections-max-reauth-ms -1"},
	} {
		_, err := Parse(tc.args, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
