package config

import (
	"strings"
	"testing"
)

// TestAdvertisedHTTPAddr: the address peers are told to probe is the one
// given, or --http-addr with a wildcard host replaced by the Raft host.
func TestAdvertisedHTTPAddr(t *testing.T) {
	members := "--initial-members=1=broker1:9192,2=broker2:9292,3=broker3:9392"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"defaults: loopback HTTP and Raft", nil, "127.0.0.1:13092"},
		{"wildcard host takes the Raft host", []string{"--raft-addr=broker1:9192", members, "--http-addr=0.0.0.0:13092"}, "broker1:13092"},
		{"IPv6 wildcard takes the Raft host", []string{"--raft-addr=10.0.0.1:9192", "--initial-members=1=10.0.0.1:9192,2=10.0.0.2:9192", "--http-addr=[::]:13092"}, "10.0.0.1:13092"},
		{"empty host takes the Raft host", []string{"--raft-addr=broker1:9192", members, "--http-addr=:13092"}, "broker1:13092"},
		{"a named host is kept", []string{"--raft-addr=broker1:9192", members, "--http-addr=broker1-mgmt:13092"}, "broker1-mgmt:13092"},
		{"explicit wins", []string{"--raft-addr=broker1:9192", members, "--http-addr=127.0.0.1:13092", "--advertised-http-addr=broker1.example:8080"}, "broker1.example:8080"},
		{"single broker may keep loopback", []string{"--raft-addr=broker1:9192", "--initial-members=1=broker1:9192"}, "127.0.0.1:13092"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.args, nil)
			if c.AdvertisedHTTPAddr != tc.want || c.AdvertisedHTTP() != tc.want {
				t.Errorf("advertised HTTP address %q (AdvertisedHTTP() %q), want %q", c.AdvertisedHTTPAddr, c.AdvertisedHTTP(), tc.want)
			}
		})
	}
	c := mustParse(t, nil, map[string]string{"LONGBOAT_ADVERTISED_HTTP_ADDR": "broker9:1"})
	if c.AdvertisedHTTPAddr != "broker9:1" {
		t.Errorf("from LONGBOAT_ADVERTISED_HTTP_ADDR: %q", c.AdvertisedHTTPAddr)
	}
}

// TestAdvertisedHTTPAddrRefused: addresses peers could not dial, or a
// loopback default they would take for themselves, stop the start with a
// message naming the flag to change.
func TestAdvertisedHTTPAddrRefused(t *testing.T) {
	members := "--initial-members=1=broker1:9192,2=broker2:9292"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wildcard", []string{"--advertised-http-addr=0.0.0.0:13092"}, "--advertised-http-addr"},
		{"port 0", []string{"--advertised-http-addr=broker1:0"}, "not a wildcard"},
		{"no port", []string{"--advertised-http-addr=broker1"}, "--advertised-http-addr"},
		{"loopback HTTP, remote Raft", []string{"--raft-addr=broker1:9192", members, "--http-addr=127.0.0.1:13092"}, "set --advertised-http-addr"},
		{"localhost HTTP, remote Raft", []string{"--raft-addr=10.1.2.3:9192", "--initial-members=1=10.1.2.3:9192,2=10.1.2.4:9192", "--http-addr=localhost:13092"}, "bind --http-addr to 0.0.0.0:13092"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.args, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
