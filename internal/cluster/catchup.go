package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/partition"
)

// LogPositionPath is where a broker's HTTP listener answers a hosted
// replica's durable log position (partition.LogPosition as JSON).
func LogPositionPath(shardID uint64) string {
	return fmt.Sprintf("/v1/partitions/%d/log-position", shardID)
}

// maxPositionBytes bounds a peer's answer: a few offsets and one header.
const maxPositionBytes = 4 << 10

// followerLogs asks the other replicas of a shard, over their brokers'
// HTTP listeners, where their logs end, so that a snapshot streamed to a
// follower that fell behind holds only what it lacks.
type followerLogs struct {
	self   uint64
	meta   interface{ State() *meta.State }
	client peerHTTP
}

// positionRetry spaces the attempts to ask the followers: a follower that
// has just restarted asks for the snapshot a moment before its HTTP
// listener and its replica are up.
const positionRetry = 100 * time.Millisecond

// Positions asks every other replica in parallel, again until ctx ends if
// one does not answer: one that never does fails the whole question, since
// the stream must suit whichever follower receives it. A replica whose
// broker is down (its HTTP and Raft ports refuse connections) is left out:
// no stream reaches it; partition.ErrFollowerDown when all are.
func (f followerLogs) Positions(ctx context.Context, shardID uint64) ([]partition.LogPosition, error) {
	for {
		out, err := f.askAll(ctx, shardID)
		if err == nil {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(positionRetry):
		}
	}
}

func (f followerLogs) askAll(ctx context.Context, shardID uint64) ([]partition.LogPosition, error) {
	st := f.meta.State()
	ref, ok := st.Shard(shardID)
	if !ok {
		return nil, fmt.Errorf("shard %d is not in the metadata", shardID)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		out  []partition.LogPosition
		errs []error
		down error
	)
	for _, id := range ref.Partition.Replicas {
		if id == f.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos, err := f.position(ctx, st.Brokers[id], shardID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, partition.ErrFollowerDown):
				down = fmt.Errorf("replica %d of shard %d: %w", id, shardID, err)
			case err != nil:
				errs = append(errs, fmt.Errorf("replica %d of shard %d: %w", id, shardID, err))
			default:
				out = append(out, pos)
			}
		}()
	}
	wg.Wait()
	switch {
	case len(errs) > 0:
		return nil, errs[0]
	case len(out) == 0 && down != nil:
		return nil, down
	}
	return out, nil
}

func (f followerLogs) position(ctx context.Context, b *meta.Broker, shardID uint64) (partition.LogPosition, error) {
	var pos partition.LogPosition
	url, err := f.client.brokerURL(b, LogPositionPath(shardID))
	if err != nil {
		return pos, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return pos, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if processGone(err) && raftPortRefused(ctx, b.RaftAddr) {
			return pos, fmt.Errorf("ask log position: %v, and the Raft port %s refuses too: %w", err, b.RaftAddr, partition.ErrFollowerDown)
		}
		return pos, fmt.Errorf("ask log position: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPositionBytes))
	if err != nil {
		return pos, fmt.Errorf("read log position: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return pos, fmt.Errorf("log position: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &pos); err != nil {
		return pos, fmt.Errorf("log position: %w", err)
	}
	return pos, nil
}

// logStream logs each snapshot stream a replica of ref starts: where it
// starts and, for the whole log, why no follower's log end could be used.
func (r *reconciler) logStream(ref meta.PartitionRef) func(partition.StreamPlan) {
	return func(p partition.StreamPlan) {
		ends := make([]int64, len(p.Followers))
		for i, f := range p.Followers {
			ends[i] = f.NextOffset
		}
		ev := r.log.Info().Str("topic", ref.Topic).Int32("partition", ref.Partition.Index).Uint64("shard", p.ShardID).
			Int64("from", p.From).Int64("log_start", p.StartOffset).Int64("log_end", p.NextOffset).Ints64("follower_log_ends", ends)
		if p.Whole {
			ev.Str("reason", p.Reason).Msg("snapshot stream of the whole log")
			return
		}
		ev.Msg("snapshot stream continuing the followers' logs")
	}
}
