package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lni/vfs"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

func TestResolveLogDB(t *testing.T) {
	// legacy: a data directory with Raft data and no record of its store.
	legacy := func(t *testing.T) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "raft", "host"), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	// emptyRecordWith: the record left empty by a crash before its
	// writeback, beside the store directory sub (none if "").
	emptyRecordWith := func(sub string) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := legacy(t)
			if sub != "" {
				if err := os.MkdirAll(filepath.Join(dir, "raft", "host", "00000000000000000001", sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, logDBFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	cases := []struct {
		name      string
		dir       func(t *testing.T) string
		requested string
		want      string
		wantErr   []string
	}{
		{"new directory defaults to tan-shared", func(t *testing.T) string { return t.TempDir() }, "", config.LogDBTanShared, nil},
		{"new directory honours tan", func(t *testing.T) string { return t.TempDir() }, config.LogDBTan, config.LogDBTan, nil},
		{"new directory honours pebble", func(t *testing.T) string { return t.TempDir() }, config.LogDBPebble, config.LogDBPebble, nil},
		{"directory from before the choice holds pebble", legacy, "", config.LogDBPebble, nil},
		{"directory from before the choice refuses tan", legacy, config.LogDBTan, "",
			[]string{"--raft-logdb tan", "holds a pebble Raft log", "cannot be converted in place", "drop the flag"}},
		{"an empty raft directory is new", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "raft"), 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "", config.LogDBTanShared, nil},
		{"an empty record (cut short by a crash) with tan files holds tan", emptyRecordWith("tandb/node-1000-1"), "", config.LogDBTan, nil},
		{"an empty record with shared tan files holds tan-shared", emptyRecordWith("tandb/shard-8"), "", config.LogDBTanShared, nil},
		{"an empty record with shared tan files refuses tan", emptyRecordWith("tandb/shard-8"), config.LogDBTan, "",
			[]string{"--raft-logdb tan", "holds a tan-shared Raft log"}},
		{"an empty record with pebble files holds pebble", emptyRecordWith("logdb-0"), "", config.LogDBPebble, nil},
		{"an empty record with pebble files refuses tan", emptyRecordWith("logdb-0"), config.LogDBTan, "",
			[]string{"--raft-logdb tan", "holds a pebble Raft log"}},
		{"an empty record without Raft files is new", emptyRecordWith(""), config.LogDBPebble, config.LogDBPebble, nil},
		{"a damaged record is reported", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, logDBFile), []byte("leveldb\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "", "", []string{`holds "leveldb"`, "tandb/shard-N inside it means tan-shared"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			got, err := resolveLogDB(dir, tc.requested)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("resolved %q, want an error", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolveLogDB = %q, %v; want %q", got, err, tc.want)
			}
			// The choice is recorded and sticks: a second start with no
			// flag keeps it (the legacy case even after its raft
			// directory is gone), one asking for the other store is refused.
			if err := os.RemoveAll(filepath.Join(dir, "raft")); err != nil {
				t.Fatal(err)
			}
			again, err := resolveLogDB(dir, "")
			if err != nil || again != tc.want {
				t.Fatalf("second start = %q, %v; want %q", again, err, tc.want)
			}
			other := config.LogDBTan
			if tc.want == config.LogDBTan {
				other = config.LogDBPebble
			}
			if _, err := resolveLogDB(dir, other); err == nil {
				t.Fatalf("switching %s to %s was allowed", tc.want, other)
			}
		})
	}
}

// tan fsyncs a log file from one goroutine while another appends to it
// (go test -race checks the page-cache bookkeeping); every byte stays.
func TestLogFileSyncWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000001.log")
	f, err := sparseLogFS{FS: vfs.Default}.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const writes, size = 200, 10000
	done := make(chan error)
	go func() {
		var err error
		for range 50 {
			err = errors.Join(err, f.Sync())
		}
		done <- err
	}()
	chunk := bytes.Repeat([]byte{'x'}, size)
	for range writes {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writes*size || bytes.Count(got, []byte{'x'}) != writes*size {
		t.Fatalf("file holds %d bytes, want %d of 'x'", len(got), writes*size)
	}
}

// A crash during an append to the removal list leaves a partial name or
// zeros at its end: the broker still starts, removes what the complete
// entries name and keeps everything else.
func TestRemoveReleasedTanLogsSkipsATornEntry(t *testing.T) {
	dir := t.TempDir()
	tandb := filepath.Join(dir, "raft", "host", "1", "tandb")
	for _, name := range []string{"node-5-1", "node-6-1", "node-7-1", "node-70-1"} {
		if err := os.MkdirAll(filepath.Join(tandb, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	list := filepath.Join(dir, removedLogsFile)
	if err := os.WriteFile(list, []byte("node-5-1\nnode-6-1\n../../x\nnode-7\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeReleasedTanLogs(dir, zerolog.Nop()); err != nil {
		t.Fatalf("start refused: %v", err)
	}
	for name, want := range map[string]bool{"node-5-1": false, "node-6-1": false, "node-7-1": true, "node-70-1": true} {
		_, err := os.Stat(filepath.Join(tandb, name))
		if got := err == nil; got != want {
			t.Errorf("%s present = %v, want %v", name, got, want)
		}
	}
	if _, err := os.Stat(list); !os.IsNotExist(err) {
		t.Errorf("the list is still there: %v", err)
	}
}
