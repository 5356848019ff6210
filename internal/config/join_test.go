package config

import (
	"strings"
	"testing"
)

func TestJoinFlag(t *testing.T) {
	env := func(string) string { return "" }
	base := []string{"--node-id", "4", "--data-dir", "/tmp/x", "--raft-addr", "10.0.0.4:9192", "--http-addr", "0.0.0.0:13092",
		"--listeners", "PLAINTEXT://0.0.0.0:9092", "--advertised-listeners", "PLAINTEXT://b4:9092"}
	c, err := Parse(append(base, "--join", "broker1:13092"), env)
	if err != nil {
		t.Fatalf("--join: %v", err)
	}
	if c.Join != "broker1:13092" || len(c.InitialMembers) != 0 {
		t.Fatalf("Join %q, InitialMembers %v: want the address and no initial members", c.Join, c.InitialMembers)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--join", "broker1:13092", "--initial-members", "4=10.0.0.4:9192"}, "exclude each other"},
		{[]string{"--join", "broker1"}, "--join \"broker1\""},
	} {
		if _, err := Parse(append(base, tc.args...), env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
