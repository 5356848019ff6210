package group

import (
	"context"
	"errors"
	"sort"
	"time"
)

var (
	errTermChanged = errors.New("the group shard changed leader since the transition")
	errClosed      = errors.New("the coordinator is closed")
)

// shardQueue holds the commands of one shard waiting for its proposer, in
// the order the coordinator made the transitions they persist: a group's
// StoreGroup of generation n+1 can never commit before that of n. Guarded
// by c.mu.
type shardQueue struct {
	items []queued
	busy  bool          // a command is being proposed
	wake  chan struct{} // capacity 1
}

type queued struct {
	term uint64 // the Raft term the transition was made in
	cmd  []byte
	done chan error // capacity 1: the proposer never waits for the reader
}

// persist queues cmd behind the shard's earlier transitions and returns
// where its outcome arrives. c.mu is held.
func (c *Coordinator) persist(shard, term uint64, cmd Command) <-chan error {
	done := make(chan error, 1)
	if c.closed {
		done <- errClosed
		return done
	}
	q := c.queues[shard]
	if q == nil {
		q = &shardQueue{wake: make(chan struct{}, 1)}
		c.queues[shard] = q
		c.wg.Add(1)
		go c.proposer(shard, q)
	}
	q.items = append(q.items, queued{term: term, cmd: cmd.Encode(), done: done})
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return done
}

// proposer commits a shard's queued commands one at a time.
func (c *Coordinator) proposer(shard uint64, q *shardQueue) {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			c.locked(func() {
				for _, it := range q.items {
					it.done <- errClosed
				}
				q.items = nil
			})
			return
		case <-q.wake:
		}
		for {
			var (
				it queued
				ok bool
			)
			c.locked(func() {
				q.busy = len(q.items) > 0
				if q.busy {
					it, q.items, ok = q.items[0], q.items[1:], true
				}
			})
			if !ok {
				break
			}
			err := c.proposeQueued(shard, it)
			if err != nil {
				c.log.Warn().Err(err).Uint64("shard", shard).Msg("persist group transition")
			}
			it.done <- err
		}
	}
}

// proposeQueued proposes a transition unless the shard changed term since
// it was made: the groups it came from were dropped then, and a newer
// leader may have moved them on.
func (c *Coordinator) proposeQueued(shard uint64, it queued) error {
	if term, leader := c.shards.IsLeader(shard); !leader || term != it.term {
		return errTermChanged
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	return c.shards.ProposeGroup(ctx, shard, it.cmd)
}

// sweep queues, on every shard this broker leads, the removal of expired
// offsets (offsets.retention.check.interval.ms), and evicts live groups
// that are idle: reloading them from the replica would give the same
// group. c.mu is held.
func (c *Coordinator) sweep() {
	active := map[uint64][]string{}
	for name, g := range c.groups {
		if len(g.members) > 0 {
			active[g.shard] = append(active[g.shard], name)
			continue
		}
		if c.idle(g) {
			delete(c.groups, name)
		}
	}
	for shard, term := range c.loaded {
		names := active[shard]
		sort.Strings(names)
		c.persist(shard, term, Command{ExpireOffsets: &ExpireOffsets{RetentionMs: c.cfg.OffsetsRetention.Milliseconds(), Active: names}})
	}
}

// idle tells whether a live group holds nothing its stored record does
// not: no members, no pending member ids, no transition waiting to be
// persisted. c.mu is held.
func (c *Coordinator) idle(g *group) bool {
	if g.state != StateEmpty || len(g.members) > 0 || len(g.pending) > 0 {
		return false
	}
	if q := c.queues[g.shard]; q != nil && (q.busy || len(q.items) > 0) {
		return false
	}
	smr, ok := c.shards.GroupStateMachine(g.shard)
	if !ok {
		return false
	}
	rec, found := smr.Group(g.name)
	return !found || (len(rec.Members) == 0 && rec.Generation == g.generation)
}
