package cluster

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dbconfig "github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
)

// TestCutTornTanLog writes Raft updates with tan as a broker configures it,
// copies the data directory while tan is open (what a crash leaves: the log
// in use has no index), tears the last record as a crash can (its header
// on disk, the end of its payload zeros), and checks: tan refuses that log
// as it is; after cutTornTanLogs it opens, with every update but the torn
// one; and a log that is not torn is left as it was.
func TestCutTornTanLog(t *testing.T) {
	// 30: the torn record fits in a block; 27: it spans three (70 KiB), and
	// its last chunk is the one torn.
	for _, updates := range []uint64{30, 27} {
		t.Run(fmt.Sprintf("%d updates", updates), func(t *testing.T) { cutTornTanLog(t, updates) })
	}
}

func cutTornTanLog(t *testing.T, updates uint64) {
	data := t.TempDir()
	const shard, replica = 7, 2
	payload := func(i uint64) []byte {
		// Some records span blocks (32 KiB), most share one.
		n := 3000 + int(i%4)*5000
		if i%9 == 0 {
			n = 70 << 10
		}
		return bytes.Repeat([]byte{byte(i)}, n)
	}
	db := openTan(t, data)
	for i := uint64(1); i <= updates; i++ {
		u := pb.Update{ShardID: shard, ReplicaID: replica, State: pb.State{Term: 3, Vote: replica, Commit: i},
			EntriesToSave: []pb.Entry{{Index: i, Term: 3, Cmd: payload(i)}}}
		if err := db.SaveRaftState([]pb.Update{u}, 1); err != nil {
			t.Fatal(err)
		}
	}
	crashed := filepath.Join(t.TempDir(), "data")
	copyTree(t, data, crashed)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(crashed, "raft", "host", "1", "tandb", fmt.Sprintf("node-%d-%d", shard, replica))
	logPath, ok, err := unindexedTanLog(dir)
	if err != nil || !ok {
		t.Fatalf("no log without an index in %s (%v)", dir, err)
	}
	before := fileSize(t, logPath)

	// Not torn: nothing to cut.
	if err := cutTornTanLogs(crashed, config.LogDBTan, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, logPath); got != before {
		t.Fatalf("an intact log was cut from %d to %d bytes", before, got)
	}

	// Torn: the last 100 bytes of the last record's payload never reached
	// the disk.
	f, err := os.OpenFile(logPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 100), before-100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	untouched := filepath.Join(t.TempDir(), "data")
	copyTree(t, crashed, untouched)
	if _, err := readTan(t, untouched, shard, replica); err == nil || !strings.Contains(err.Error(), "crc mismatch") {
		t.Fatalf("tan opened the torn log without the cut (err %v): the tear is not the one the cut handles", err)
	}

	if err := cutTornTanLogs(crashed, config.LogDBTan, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if after := fileSize(t, logPath); after >= before-100 {
		t.Fatalf("torn log is %d bytes after the cut, %d before", after, before)
	}
	ents, err := readTan(t, crashed, shard, replica)
	if err != nil {
		t.Fatalf("tan after the cut: %v", err)
	}
	if uint64(len(ents)) != updates-1 {
		t.Fatalf("%d entries after the cut, want %d (all but the torn one)", len(ents), updates-1)
	}
	for i, e := range ents {
		if want := uint64(i + 1); e.Index != want || !bytes.Equal(e.Cmd, payload(want)) {
			t.Fatalf("entry %d after the cut: index %d, %d bytes", want, e.Index, len(e.Cmd))
		}
	}
}

func openTan(t *testing.T, dataDir string) raftio.ILogDB {
	t.Helper()
	hostDir := filepath.Join(dataDir, "raft", "host", "1")
	nhc := dbconfig.NodeHostConfig{Expert: expertConfig(&config.Config{}, config.LogDBTan, nil, nil)}
	db, err := tan.Factory.Create(nhc, nil, []string{hostDir}, []string{hostDir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// readTan opens tan on dataDir and returns one replica's entries.
func readTan(t *testing.T, dataDir string, shard, replica uint64) ([]pb.Entry, error) {
	t.Helper()
	db := openTan(t, dataDir)
	defer db.Close()
	st, err := db.ReadRaftState(shard, replica, 0)
	if err != nil {
		return nil, err
	}
	ents, _, err := db.IterateEntries(nil, 0, shard, replica, st.FirstIndex, st.FirstIndex+st.EntryCount, math.MaxUint64)
	return ents, err
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
