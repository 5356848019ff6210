package partition

import (
	"context"
	"fmt"

	"github.com/longboat/longboat/internal/storage"
)

// Clean runs one log cleaner pass over this replica's sealed segments. It
// is local, not a Raft command: it only ever removes a record whose key
// has a later record, or an expired tombstone, and never moves an offset,
// so every replica holds the same latest record per key whenever its
// cleaner ran. The pass stays below the last checkpoint: Open cuts the log
// back to that offset and Raft replays the appends after it, which needs
// them intact; so a pass first checkpoints what was applied since the
// last one (an fsync), or an idle partition's last entries would never be
// cleaned.
func (s *StateMachine) Clean(ctx context.Context, cfg storage.CleanConfig, m *storage.OffsetMap, t *storage.Throttle) (storage.CleanResult, error) {
	if !s.opened.Load() || s.installing.Load() {
		return storage.CleanResult{}, nil
	}
	if s.synced.Load() < s.hw.Load() {
		if err := s.checkpointNow(); err != nil {
			return storage.CleanResult{}, err
		}
	}
	cfg.Limit = s.synced.Load()
	res, err := s.log.Clean(ctx, cfg, m, t)
	if err != nil {
		return res, fmt.Errorf("partition %d: %w", s.ShardID, err)
	}
	return res, nil
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
