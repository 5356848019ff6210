package partition

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/longboat/longboat/internal/storage"
)

// Clean runs one log cleaner pass over this replica's sealed segments. It
// is local, not a Raft command: it only ever removes a record whose key
// has a later record, an expired tombstone, the records of an aborted
// transaction, or a marker whose transaction has no record left, and
// never moves an offset, so every replica holds the same records whenever
// its cleaner ran. The pass stays below the last checkpoint: Open cuts the
// log back to that offset and Raft replays the appends after it, which
// needs them intact; so a pass first checkpoints what was applied since
// the last one (an fsync), or an idle partition's last entries would never
// be cleaned. It also stays below the last stable offset: an open
// transaction may still abort, and its records must not hide older ones.
func (s *StateMachine) Clean(ctx context.Context, cfg storage.CleanConfig, m *storage.OffsetMap, t *storage.Throttle) (storage.CleanResult, error) {
	if !s.opened.Load() || s.installing.Load() {
		return storage.CleanResult{}, nil
	}
	if s.synced.Load() < s.hw.Load() {
		if err := s.checkpointNow(); err != nil {
			return storage.CleanResult{}, err
		}
	}
	gen := s.installGen.Load()
	// The last stable offset before the index: a transaction that ends
	// below it is in the index read after.
	cfg.Limit = min(s.synced.Load(), s.LastStableOffset())
	for _, a := range s.txns.list() {
		cfg.Aborted = append(cfg.Aborted, storage.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset, LastOffset: a.LastOffset})
	}
	cfg.DropAborted = func(markers []int64) error { return s.dropAborted(gen, markers) }
	res, err := s.log.Clean(ctx, cfg, m, t)
	if err != nil {
		return res, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	return res, nil
}

// errInstalledMeanwhile gives up a cleaning pass that a snapshot install
// overtook: the index it would change is the leader's now.
var errInstalledMeanwhile = errors.New("a snapshot was installed during the cleaning pass")

// dropAborted takes out of the aborted-transaction index the transactions
// (by marker offset) the cleaner found without records, and checkpoints
// before the cleaner may remove their markers: a restart must not bring
// back an entry whose marker is gone, or a read_committed consumer would
// skip that producer's later transactions.
func (s *StateMachine) dropAborted(gen int64, markers []int64) error {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if s.installing.Load() || s.installGen.Load() != gen {
		return errInstalledMeanwhile
	}
	s.txns.drop(markers)
	return s.Sync()
}

// drop removes the entries whose marker is at one of the offsets.
func (t *txnIndex) drop(markers []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aborted = slices.DeleteFunc(slices.Clone(t.aborted), func(a AbortedTxn) bool { return slices.Contains(markers, a.LastOffset) })
}

// checkpointNow writes a checkpoint from outside the apply goroutine, with
// Position's locking: a state between two entries, never during an install.
func (s *StateMachine) checkpointNow() error {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if s.installing.Load() {
		return nil
	}
	return s.Sync()
}
