package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// envMap returns a getenv func backed by m (nil means an empty environment).
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func noEnv(string) string { return "" }

func mustParse(t *testing.T, args []string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse(args, envMap(env))
	if err != nil {
		t.Fatalf("Parse(%q, %v): %v", args, env, err)
	}
	return c
}

func TestParseDefaults(t *testing.T) {
	c := mustParse(t, nil, nil)
	if c.NodeID != 1 {
		t.Errorf("NodeID = %d, want 1", c.NodeID)
	}
	want := []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, Protocol: ProtocolPlaintext}}
	if !reflect.DeepEqual(c.Listeners, want) {
		t.Errorf("Listeners = %+v, want %+v", c.Listeners, want)
	}
	if !reflect.DeepEqual(c.AdvertisedListeners, want) {
		t.Errorf("AdvertisedListeners = %+v, want the bind listeners %+v", c.AdvertisedListeners, want)
	}
	if c.RaftAddr != "127.0.0.1:9192" {
		t.Errorf("RaftAddr = %q", c.RaftAddr)
	}
	if !reflect.DeepEqual(c.InitialMembers, map[uint64]string{1: "127.0.0.1:9192"}) {
		t.Errorf("InitialMembers = %v, want this node alone", c.InitialMembers)
	}
	if c.HTTPAddr != "127.0.0.1:13092" {
		t.Errorf("HTTPAddr = %q, want 127.0.0.1:13092", c.HTTPAddr)
	}
	if c.LogLevel != "info" || c.LogFormat != "auto" || c.LogColor != "auto" {
		t.Errorf("log = %q/%q/%q, want info/auto/auto", c.LogLevel, c.LogFormat, c.LogColor)
	}
	if c.RTTMillisecond != 200 || c.ElectionRTT != 5 || c.HeartbeatRTT != 1 {
		t.Errorf("raft timing = %d/%d/%d, want 200/5/1", c.RTTMillisecond, c.ElectionRTT, c.HeartbeatRTT)
	}
	if got := c.ElectionTimeout(); got != time.Second {
		t.Errorf("ElectionTimeout() = %v, want 1s (5 ticks of 200 ms)", got)
	}
	if c.SnapshotEntries == 0 {
		t.Errorf("SnapshotEntries default is 0; the Raft log would never be trimmed")
	}
	// A busy partition's Raft log between trims (~64 KiB proposals, a
	// snapshot every --raft-snapshot-bytes at most) must fit in one LogDB
	// memtable, or every entry is flushed and compacted again.
	between := min(c.SnapshotEntries*64<<10, c.SnapshotBytes)
	if c.SnapshotBytes == 0 {
		t.Errorf("SnapshotBytes default is 0; partitions would snapshot by entry count only")
	}
	if window := between + c.CompactionOverheadEntries*64<<10; window > c.LogDBMemtableMB<<20 {
		t.Errorf("Raft log window %d bytes exceeds the %d MiB memtable", window, c.LogDBMemtableMB)
	}
	if c.LeaderBalanceInterval != 5*time.Second || c.ShutdownTimeout != 10*time.Second || c.ReplicaLagTimeMax != 30*time.Second {
		t.Errorf("durations = %v/%v/%v, want 5s/10s/30s", c.LeaderBalanceInterval, c.ShutdownTimeout, c.ReplicaLagTimeMax)
	}
	if c.Listeners[0].Addr() != "127.0.0.1:9092" {
		t.Errorf("Addr() = %q", c.Listeners[0].Addr())
	}
	if d := c.LogDefaults(); d.CompressionType != "producer" || d.CleanupPolicy != "delete" {
		t.Errorf("compression type %q, cleanup policy %q; want producer and delete", d.CompressionType, d.CleanupPolicy)
	}
	if d := mustParse(t, []string{"--compression-type", "zstd", "--log-cleanup-policy", "compact,delete"}, nil).LogDefaults(); d.CompressionType != "zstd" || d.CleanupPolicy != "compact,delete" {
		t.Errorf("flags set compression type %q, cleanup policy %q", d.CompressionType, d.CleanupPolicy)
	}
}

// The compose example from the design brief, given entirely as env.
func TestParseComposeExampleFromEnv(t *testing.T) {
	env := map[string]string{
		"LONGBOAT_NODE_ID":                 "2",
		"LONGBOAT_DATA_DIR":                "/var/lib/longboat",
		"LONGBOAT_LISTENERS":               "INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9093",
		"LONGBOAT_ADVERTISED_LISTENERS":    "INTERNAL://broker2:19092,EXTERNAL://localhost:9093",
		"LONGBOAT_RAFT_ADDR":               "broker2:9292",
		"LONGBOAT_INITIAL_MEMBERS":         "1=broker1:9192,2=broker2:9292,3=broker3:9392",
		"LONGBOAT_HTTP_ADDR":               "0.0.0.0:13093",
		"LONGBOAT_LOG_LEVEL":               "debug",
		"LONGBOAT_LOG_FORMAT":              "json",
		"LONGBOAT_AUTO_CREATE_TOPICS":      "true",
		"LONGBOAT_RAFT_SNAPSHOT_ENTRIES":   "500",
		"LONGBOAT_LEADER_BALANCE_INTERVAL": "30s",
	}
	c := mustParse(t, nil, env)
	if c.NodeID != 2 || c.DataDir != "/var/lib/longboat" || c.RaftAddr != "broker2:9292" || c.HTTPAddr != "0.0.0.0:13093" {
		t.Errorf("scalars = %d %q %q %q", c.NodeID, c.DataDir, c.RaftAddr, c.HTTPAddr)
	}
	wantL := []Listener{{"INTERNAL", "0.0.0.0", 19092, ProtocolPlaintext}, {"EXTERNAL", "0.0.0.0", 9093, ProtocolPlaintext}}
	wantA := []Listener{{Name: "INTERNAL", Host: "broker2", Port: 19092}, {Name: "EXTERNAL", Host: "localhost", Port: 9093}}
	if !reflect.DeepEqual(c.Listeners, wantL) {
		t.Errorf("Listeners = %+v, want %+v", c.Listeners, wantL)
	}
	if !reflect.DeepEqual(c.AdvertisedListeners, wantA) {
		t.Errorf("AdvertisedListeners = %+v, want %+v", c.AdvertisedListeners, wantA)
	}
	wantM := map[uint64]string{1: "broker1:9192", 2: "broker2:9292", 3: "broker3:9392"}
	if !reflect.DeepEqual(c.InitialMembers, wantM) {
		t.Errorf("InitialMembers = %v, want %v", c.InitialMembers, wantM)
	}
	if got := c.MemberIDs(); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Errorf("MemberIDs = %v", got)
	}
	if c.LogLevel != "debug" || c.LogFormat != "json" || !c.AutoCreateTopics || c.SnapshotEntries != 500 || c.LeaderBalanceInterval != 30*time.Second {
		t.Errorf("got level=%q format=%q autocreate=%v snap=%d balance=%v", c.LogLevel, c.LogFormat, c.AutoCreateTopics, c.SnapshotEntries, c.LeaderBalanceInterval)
	}
}

func TestParseFlagWinsOverEnv(t *testing.T) {
	env := map[string]string{
		"LONGBOAT_NODE_ID":          "2",
		"LONGBOAT_RAFT_ADDR":        "broker2:9292",
		"LONGBOAT_INITIAL_MEMBERS":  "1=broker1:9192,2=broker2:9292,3=broker3:9392",
		"LONGBOAT_LOG_LEVEL":        "debug",
		"LONGBOAT_LISTENERS":        "PLAINTEXT://127.0.0.1:1111",
		"LONGBOAT_SHUTDOWN_TIMEOUT": "1s",
		"LONGBOAT_HTTP_ADDR":        "0.0.0.0:13092",
	}
	args := []string{
		"--node-id", "3", "--raft-addr", "broker3:9392",
		"--log-level=warn",
		"--listeners", "PLAINTEXT://127.0.0.1:2222",
		"--shutdown-timeout", "2m",
	}
	c := mustParse(t, args, env)
	if c.NodeID != 3 {
		t.Errorf("NodeID = %d, want the flag's 3 over env 2", c.NodeID)
	}
	if c.RaftAddr != "broker3:9392" {
		t.Errorf("RaftAddr = %q, want the flag's", c.RaftAddr)
	}
	if c.LogLevel != "warn" {
		t.Errorf("LogLevel = %q, want the flag's warn", c.LogLevel)
	}
	if c.Listeners[0].Port != 2222 || c.AdvertisedListeners[0].Port != 2222 {
		t.Errorf("listeners = %+v / %+v, want port 2222 from the flag", c.Listeners, c.AdvertisedListeners)
	}
	if c.ShutdownTimeout != 2*time.Minute {
		t.Errorf("ShutdownTimeout = %v, want the flag's 2m", c.ShutdownTimeout)
	}
	// Settings with no flag still come from env.
	if len(c.InitialMembers) != 3 {
		t.Errorf("InitialMembers = %v, want the three from env", c.InitialMembers)
	}
}

func TestParseEnvAskedByName(t *testing.T) {
	asked := map[string]bool{}
	_, err := Parse(nil, func(k string) string { asked[k] = true; return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"LONGBOAT_NODE_ID", "LONGBOAT_DATA_DIR", "LONGBOAT_LISTENERS", "LONGBOAT_ADVERTISED_LISTENERS",
		"LONGBOAT_RAFT_ADDR", "LONGBOAT_INITIAL_MEMBERS", "LONGBOAT_HTTP_ADDR", "LONGBOAT_LOG_LEVEL", "LONGBOAT_LOG_FORMAT",
	} {
		if !asked[name] {
			t.Errorf("Parse never looked up %s", name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"bad env number names the variable", nil, map[string]string{"LONGBOAT_NODE_ID": "one"}, []string{"LONGBOAT_NODE_ID", `"one"`}},
		{"bad env bool", nil, map[string]string{"LONGBOAT_AUTO_CREATE_TOPICS": "maybe"}, []string{"LONGBOAT_AUTO_CREATE_TOPICS"}},
		{"unknown flag", []string{"--no-such-flag"}, nil, []string{"no-such-flag"}},
		{"positional argument", []string{"--node-id", "1", "extra"}, nil, []string{`unexpected argument "extra"`}},
		{"bad listeners", []string{"--listeners", "127.0.0.1:9092"}, nil, []string{"--listeners", "NAME://host:port"}},
		{"bad advertised", []string{"--advertised-listeners", "PLAINTEXT://nohost"}, nil, []string{"--advertised-listeners"}},
		{"bad members", []string{"--initial-members", "1=a:1,1=b:2"}, nil, []string{"--initial-members", "node id 1 given twice"}},
		{"bad duration flag", []string{"--leader-balance-interval", "5"}, nil, []string{"--leader-balance-interval"}},
		{"bad duration env", nil, map[string]string{"LONGBOAT_SHUTDOWN_TIMEOUT": "soon"}, []string{"--shutdown-timeout"}},
		{"validation runs", []string{"--log-level", "loud"}, nil, []string{`--log-level "loud"`}},
		{"bad compression type", []string{"--compression-type", "brotli"}, nil, []string{"--compression-type", "brotli", "producer"}},
		{"bad cleanup policy", nil, map[string]string{"LONGBOAT_LOG_CLEANUP_POLICY": "keep"}, []string{"--log-cleanup-policy", "keep"}},
		{"wildcard bind with no advertised", []string{"--listeners", "PLAINTEXT://0.0.0.0:9092"}, nil, []string{"PLAINTEXT=0.0.0.0:9092", "wildcard"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args, envMap(tc.env))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error containing %q", c, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseListeners(t *testing.T) {
	tests := []struct {
		in      string
		want    []Listener
		wantErr string
	}{
		{in: "INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9092", want: []Listener{{Name: "INTERNAL", Host: "0.0.0.0", Port: 19092}, {Name: "EXTERNAL", Host: "0.0.0.0", Port: 9092}}},
		{in: "internal://broker1:19092, External://localhost:9092", want: []Listener{{Name: "INTERNAL", Host: "broker1", Port: 19092}, {Name: "EXTERNAL", Host: "localhost", Port: 9092}}},
		{in: "PLAINTEXT://127.0.0.1:9092", want: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}},
		{in: "PLAINTEXT://[::1]:9092,", want: []Listener{{Name: "PLAINTEXT", Host: "::1", Port: 9092}}},
		{in: "SASL_SSL2://h:1", want: []Listener{{Name: "SASL_SSL2", Host: "h", Port: 1}}},
		{in: "INTERNAL://a:1,internal://b:2", wantErr: "listener INTERNAL given twice"},
		{in: "INTERNAL://a:1,INTERNAL://a:1", wantErr: "listener INTERNAL given twice"},
		{in: "", wantErr: "no listener given"},
		{in: " , ", wantErr: "no listener given"},
		{in: "127.0.0.1:9092", wantErr: "want NAME://host:port"},
		{in: "MY-LISTENER://a:1", wantErr: "listener name must be"},
		{in: "1ST://a:1", wantErr: "listener name must be"},
		{in: "://a:1", wantErr: "listener name must be"},
		{in: "X://a", wantErr: "host:port"},
		{in: "X://a:port", wantErr: "must be 0..65535"},
		{in: "X://a:65536", wantErr: "must be 0..65535"},
		{in: "X://a:-1", wantErr: "must be 0..65535"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseListeners(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseListeners(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListeners(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseListeners(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMembers(t *testing.T) {
	tests := []struct {
		in      string
		want    map[uint64]string
		wantErr string
	}{
		{in: "1=broker1:9192,2=broker2:9292,3=broker3:9392", want: map[uint64]string{1: "broker1:9192", 2: "broker2:9292", 3: "broker3:9392"}},
		{in: " 1=a:1 , ,2=b:2,", want: map[uint64]string{1: "a:1", 2: "b:2"}},
		{in: "7=[::1]:9192", want: map[uint64]string{7: "[::1]:9192"}},
		{in: "", wantErr: "empty"},
		{in: "1=a:1,1=b:2", wantErr: "node id 1 given twice"},
		{in: "0=a:1", wantErr: "positive integer"},
		{in: "-1=a:1", wantErr: "positive integer"},
		{in: "x=a:1", wantErr: "positive integer"},
		{in: "broker1:9192", wantErr: "want id=host:port"},
		{in: "1=broker1", wantErr: "host:port"},
		{in: "1=broker1:99999", wantErr: "0..65535"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMembers(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseMembers(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMembers(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMembers(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// validConfig is a three-broker node 2 as in the compose file.
func validConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse([]string{
		"--node-id", "2",
		"--data-dir", t.TempDir(),
		"--listeners", "INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9093",
		"--advertised-listeners", "INTERNAL://broker2:19092,EXTERNAL://localhost:9093",
		"--raft-addr", "broker2:9292",
		"--initial-members", "1=broker1:9192,2=broker2:9292,3=broker3:9392",
		"--http-addr", "0.0.0.0:13093",
	}, noEnv)
	if err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // every substring must appear; each says what to change
	}{
		{"node id zero", func(c *Config) { c.NodeID = 0 }, []string{"--node-id must be 1 or more"}},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{"--data-dir"}},
		{"node missing from initial members", func(c *Config) { c.NodeID = 4; c.RaftAddr = "broker4:9492" },
			[]string{"--initial-members has no entry for --node-id 4", "add 4=broker4:9492"}},
		{"raft addr differs from members entry", func(c *Config) { c.RaftAddr = "broker2:9999" },
			[]string{"--raft-addr broker2:9999", "2=broker2:9292", "make them equal"}},
		{"wildcard advertised IPv4", func(c *Config) { c.AdvertisedListeners[1].Host = "0.0.0.0" },
			[]string{"EXTERNAL=0.0.0.0:9093", "reachable host", "wildcard"}},
		{"wildcard advertised IPv6", func(c *Config) { c.AdvertisedListeners[0].Host = "::" },
			[]string{"INTERNAL=[::]:19092", "wildcard"}},
		{"empty advertised host", func(c *Config) { c.AdvertisedListeners[0].Host = "" },
			[]string{"INTERNAL=:19092", "reachable host"}},
		{"advertised port 0", func(c *Config) { c.AdvertisedListeners[0].Port = 0 },
			[]string{"INTERNAL=broker2:0", "reachable host and port"}},
		{"listener without advertised entry", func(c *Config) { c.AdvertisedListeners = c.AdvertisedListeners[:1] },
			[]string{"listener EXTERNAL has no entry in --advertised-listeners", "add EXTERNAL://host:9093"}},
		{"advertised names a different listener", func(c *Config) { c.AdvertisedListeners[1].Name = "OTHER" },
			[]string{"listener EXTERNAL has no entry in --advertised-listeners"}},
		{"advertised has an extra listener", func(c *Config) {
			c.AdvertisedListeners = append(c.AdvertisedListeners, Listener{Name: "EXTRA", Host: "h", Port: 1})
		}, []string{"--advertised-listeners must name exactly the listeners in --listeners"}},
		{"bad http addr", func(c *Config) { c.HTTPAddr = "13092" }, []string{`--http-addr "13092"`, "host:port"}},
		{"grafana url without scheme", func(c *Config) { c.GrafanaURL = "grafana:3000" }, []string{`--grafana-url "grafana:3000"`, "http://localhost:3000"}},
		{"bad log level", func(c *Config) { c.LogLevel = "verbose" }, []string{`--log-level "verbose"`, "debug, info, warn or error"}},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, []string{`--log-format "xml"`, "console, json or auto"}},
		{"bad log color", func(c *Config) { c.LogColor = "rainbow" }, []string{`--log-color "rainbow"`, "auto, always or never"}},
		{"default partitions 0", func(c *Config) { c.DefaultPartitions = 0 }, []string{"--default-partitions must be 1 or more"}},
		{"default RF 0", func(c *Config) { c.DefaultReplicationFactor = 0 }, []string{"--default-replication-factor must be 1 or more"}},
		{"small max request", func(c *Config) { c.MaxRequestBytes = 1000 }, []string{"--max-request-bytes must be at least 1048576"}},
		{"negative max connections", func(c *Config) { c.MaxConnections = -1 }, []string{"--max-connections and --max-connections-per-ip must be 0 (no limit) or more"}},
		{"negative max connections per ip", func(c *Config) { c.MaxConnectionsPerIP = -1 }, []string{"--max-connections-per-ip"}},
		{"small in-flight budget", func(c *Config) { c.MaxInflightRequestBytes = 1000 }, []string{"--max-inflight-request-bytes must be at least 1048576"}},
		{"zero idle", func(c *Config) { c.ConnectionsMaxIdle = 0 }, []string{"--connections-max-idle-ms", "positive"}},
		{"zero write timeout", func(c *Config) { c.ConnectionWriteTimeout = 0 }, []string{"--connections-write-timeout-ms", "positive"}},
		{"snapshot entries 0", func(c *Config) { c.SnapshotEntries = 0 }, []string{"--raft-snapshot-entries must be > 0", "never trimmed"}},
		{"tiny memtable", func(c *Config) { c.LogDBMemtableMB = 1 }, []string{"--raft-logdb-memtable-mb must be 4..1024"}},
		{"huge memtable", func(c *Config) { c.LogDBMemtableMB = 4096 }, []string{"--raft-logdb-memtable-mb must be 4..1024"}},
		{"unknown Raft log store", func(c *Config) { c.RaftLogDB = "rocksdb" }, []string{`--raft-logdb must be "tan-shared", "tan", "pebble" or empty`, `got "rocksdb"`}},
		{"rtt 0", func(c *Config) { c.RTTMillisecond = 0 }, []string{"raft timing", "--raft-rtt-ms"}},
		{"heartbeat 0", func(c *Config) { c.HeartbeatRTT = 0 }, []string{"raft timing", "--raft-heartbeat-rtt must be > 0"}},
		{"election = 2 x heartbeat", func(c *Config) { c.ElectionRTT = 4; c.HeartbeatRTT = 2 }, []string{"--raft-election-rtt > 2 x --raft-heartbeat-rtt"}},
		{"election < heartbeat", func(c *Config) { c.ElectionRTT = 1; c.HeartbeatRTT = 2 }, []string{"--raft-election-rtt > 2 x --raft-heartbeat-rtt"}},
		{"small segment", func(c *Config) { c.SegmentBytes = 100 }, []string{"--segment-bytes must be at least 4096"}},
		{"tiny segment minimum", func(c *Config) { c.MinSegmentBytes = 1023 }, []string{"--min-segment-bytes must be at least 1024"}},
		{"negative free-space floor", func(c *Config) { c.MinFreeDiskBytes = -2 }, []string{"--min-free-disk-bytes must be 0", "not -2"}},
		{"zero balance interval", func(c *Config) { c.LeaderBalanceInterval = 0 }, []string{"--leader-balance-interval", "positive"}},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }, []string{"--shutdown-timeout", "positive"}},
		{"zero replica lag time", func(c *Config) { c.ReplicaLagTimeMax = 0 }, []string{"--replica-lag-time-max", "positive"}},
		{"unknown migration policy", func(c *Config) { c.GroupConsumerMigration = "both" }, []string{"--group-consumer-migration-policy", "bidirectional, upgrade, downgrade or disabled"}},
		{"several problems reported together", func(c *Config) { c.LogLevel = "x"; c.SnapshotEntries = 0; c.NodeID = 0 },
			[]string{"--log-level", "--raft-snapshot-entries", "--node-id must be"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateAcceptsBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"as parsed", func(*Config) {}},
		{"election just over 2 x heartbeat", func(c *Config) { c.ElectionRTT = 5; c.HeartbeatRTT = 2 }},
		{"segment 4096", func(c *Config) { c.SegmentBytes = 4096 }},
		{"segment minimum 1024", func(c *Config) { c.MinSegmentBytes = 1024 }},
		{"max request 1 MiB", func(c *Config) { c.MaxRequestBytes = 1 << 20 }},
		{"no connection limits", func(c *Config) { c.MaxConnections = 0; c.MaxConnectionsPerIP = 0 }},
		{"in-flight budget 1 MiB", func(c *Config) { c.MaxInflightRequestBytes = 1 << 20 }},
		{"each log level", func(c *Config) {
			for _, l := range []string{"debug", "info", "warn", "error"} {
				c.LogLevel = l
				if err := c.Validate(); err != nil {
					t.Errorf("level %q: %v", l, err)
				}
			}
		}},
		{"single node", func(c *Config) { c.NodeID = 1; c.RaftAddr = "broker1:9192" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestMemberIDsSorted(t *testing.T) {
	c := &Config{InitialMembers: map[uint64]string{10: "a:1", 2: "b:1", 7: "c:1", 1: "d:1"}}
	if got := c.MemberIDs(); !reflect.DeepEqual(got, []uint64{1, 2, 7, 10}) {
		t.Errorf("MemberIDs = %v", got)
	}
}

func TestParseClientLimits(t *testing.T) {
	c := mustParse(t, nil, nil)
	if c.MaxRequestBytes != 100<<20 || c.MaxConnections != 10000 || c.MaxConnectionsPerIP != 1000 ||
		c.MaxInflightRequestBytes != 256<<20 || c.ConnectionsMaxIdle != 10*time.Minute ||
		c.ConnectionWriteTimeout != 30*time.Second || c.DebugPprof {
		t.Errorf("defaults: request %d, connections %d, per ip %d, in flight %d, idle %v, write %v, pprof %v",
			c.MaxRequestBytes, c.MaxConnections, c.MaxConnectionsPerIP, c.MaxInflightRequestBytes,
			c.ConnectionsMaxIdle, c.ConnectionWriteTimeout, c.DebugPprof)
	}
	c = mustParse(t, []string{"--socket-request-max-bytes", "2097152", "--max-connections", "5", "--max-connections-per-ip", "2",
		"--max-inflight-request-bytes", "4194304", "--connections-max-idle-ms", "1500", "--connections-write-timeout-ms", "250", "--debug-pprof"}, nil)
	if c.MaxRequestBytes != 2<<20 || c.MaxConnections != 5 || c.MaxConnectionsPerIP != 2 || c.MaxInflightRequestBytes != 4<<20 ||
		c.ConnectionsMaxIdle != 1500*time.Millisecond || c.ConnectionWriteTimeout != 250*time.Millisecond || !c.DebugPprof {
		t.Errorf("flags not applied: %+v", c)
	}
	// The old flag and environment name still set socket.request.max.bytes.
	if c := mustParse(t, []string{"--max-request-bytes", "3145728"}, nil); c.MaxRequestBytes != 3<<20 {
		t.Errorf("--max-request-bytes: MaxRequestBytes = %d", c.MaxRequestBytes)
	}
	if c := mustParse(t, nil, map[string]string{"LONGBOAT_MAX_REQUEST_BYTES": "5242880"}); c.MaxRequestBytes != 5<<20 {
		t.Errorf("LONGBOAT_MAX_REQUEST_BYTES: MaxRequestBytes = %d", c.MaxRequestBytes)
	}
}
