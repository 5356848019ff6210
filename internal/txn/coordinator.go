// Package txn is the transaction coordinator of Kafka transactions
// (KIP-98, with KIP-360 epoch bumps): per transactional id a record (its
// producer id and epoch, state, partitions, groups and timeout) kept in the
// group shard the id hashes to, changed only through that shard's Raft log
// by the broker leading it. Ending a transaction makes PrepareCommit or
// PrepareAbort durable first, then writes the markers to the partitions'
// leaders with WriteTxnMarkers and the group offsets through the groups'
// shards, then records CompleteCommit or CompleteAbort; a new leader of the
// shard finishes what an old one prepared.
package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/group"
	"github.com/longboat/longboat/internal/meta"
)

// Node is what the coordinator uses of the broker's cluster node.
type Node interface {
	Meta() *meta.State
	IsLeader(shard uint64) (term uint64, leader bool)
	Leader(shard uint64) (leader uint64, term uint64, ok bool)
	// ReadIndex waits until the local replica has applied everything the
	// shard had committed when it was called.
	ReadIndex(ctx context.Context, shard uint64) error
	GroupShardFor(name string) (uint64, bool)
	GroupShardIDs() []uint64
	GroupStateMachine(shard uint64) (*group.StateMachine, bool)
	ProposeGroup(ctx context.Context, shard uint64, cmd []byte) error
	// ProposeGroupAsync starts a proposal to a group shard this broker
	// leads and returns the wait for its result; proposals started one
	// after another are applied in that order, or fail.
	ProposeGroupAsync(shard uint64, cmd []byte, timeout time.Duration) (func() error, error)
	NextProducerID(ctx context.Context) (int64, error)
}

// Markers sends WriteTxnMarkers to a broker (the partitions' leader).
type Markers interface {
	WriteTxnMarkers(ctx context.Context, broker uint64, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
}

// Defaults of the Config fields left zero.
const (
	DefaultMaxTimeout    = 15 * time.Minute   // transaction.max.timeout.ms
	DefaultAbortInterval = 10 * time.Second   // transaction.abort.timed.out.transaction.cleanup.interval.ms
	DefaultIDExpiration  = 7 * 24 * time.Hour // transactional.id.expiration.ms
	// completeWait bounds how long InitProducerId waits for the abort of
	// the transaction it ends.
	completeWait = 10 * time.Second
	// prepareWait bounds how long a request of a producer's next
	// transaction waits for the markers of its previous one before it
	// answers CONCURRENT_TRANSACTIONS (and the client retries).
	prepareWait = 2 * time.Second
)

// Config tunes the coordinator.
type Config struct {
	MaxTimeout    time.Duration
	AbortInterval time.Duration
	// IDExpiration removes a transactional id with no transaction for
	// this long (checked every AbortInterval).
	IDExpiration time.Duration
}

// Coordinator coordinates the transactional ids of the group shards this
// broker leads. Requests on one id run one at a time (idLocks); a
// completion runs outside the lock, while the record's Prepare* state
// answers CONCURRENT_TRANSACTIONS.
type Coordinator struct {
	cfg     Config
	node    Node
	markers Markers
	log     zerolog.Logger

	mu         sync.Mutex
	loaded     map[uint64]uint64 // shard → the term its replica was caught up in
	ids        map[string]*idLock
	completing map[string]*completion // ids whose transaction is being completed
	// finished is, per id, the Version of the last prepared transaction
	// whose markers and group offsets this broker wrote; kept while the
	// next transaction's record holds it as Prev.
	finished map[string]int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type idLock struct {
	mu   sync.Mutex
	refs int
	adds *addBatch // AddPartitionsToTxn requests gathering for the next write; c.mu guards it
	// pending is an AddPartitionsToTxn write proposed by a batch that has
	// released mu before it was applied; c.mu guards it. Other requests
	// wait for it (lock), the next batch builds on it (addBatch).
	pending *pendingPut
}

// New starts the coordinator's loop that finishes prepared transactions
// and aborts timed-out ones.
func New(cfg Config, node Node, markers Markers, log zerolog.Logger) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.AbortInterval <= 0 {
		cfg.AbortInterval = DefaultAbortInterval
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = DefaultIDExpiration
	}
	c := &Coordinator{cfg: cfg, node: node, markers: markers, log: log.With().Str("component", "txn").Logger(),
		loaded: map[uint64]uint64{}, ids: map[string]*idLock{}, completing: map[string]*completion{},
		finished: map[string]int64{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.loop()
	return c
}

// Close stops the loop and the completions in flight (a later leader of
// their shard finishes them).
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

// lock serialises the requests on one transactional id; a write an
// AddPartitionsToTxn batch left in flight is applied (or failed) first.
func (c *Coordinator) lock(id string) func() {
	l := c.ref(id)
	l.mu.Lock()
	c.mu.Lock()
	p := l.pending
	c.mu.Unlock()
	if p != nil {
		<-p.done
	}
	return func() { c.unlockRef(id, l) }
}

// ref returns an id's lock, counting the caller until unlockRef.
func (c *Coordinator) ref(id string) *idLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.ids[id]
	if l == nil {
		l = &idLock{}
		c.ids[id] = l
	}
	l.refs++
	return l
}

// unlockRef releases an id's lock taken after ref.
func (c *Coordinator) unlockRef(id string, l *idLock) {
	l.mu.Unlock()
	c.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(c.ids, id)
	}
	c.mu.Unlock()
}

// shard is where one transactional id lives, as this broker leads it.
type shard struct {
	id   uint64
	term uint64
	sm   *group.StateMachine
}

// load finds the shard of a transactional id and checks that this broker
// coordinates it; the first time in a Raft term it waits until the
// replica has applied what earlier leaders committed.
func (c *Coordinator) load(ctx context.Context, txnID string) (shard, int16) {
	id, ok := c.node.GroupShardFor(txnID)
	if !ok {
		return shard{}, kerr.CoordinatorNotAvailable.Code
	}
	return c.loadShard(ctx, id)
}

func (c *Coordinator) loadShard(ctx context.Context, id uint64) (shard, int16) {
	term, leader := c.node.IsLeader(id)
	if !leader {
		return shard{}, kerr.NotCoordinator.Code
	}
	c.mu.Lock()
	caught := c.loaded[id] == term
	c.mu.Unlock()
	if !caught {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.node.ReadIndex(rctx, id)
		cancel()
		if err != nil {
			return shard{}, kerr.CoordinatorLoadInProgress.Code
		}
		if cur, leader := c.node.IsLeader(id); !leader || cur != term {
			return shard{}, kerr.NotCoordinator.Code
		}
		c.mu.Lock()
		c.loaded[id] = term
		c.mu.Unlock()
	}
	sm, ok := c.node.GroupStateMachine(id)
	if !ok {
		return shard{}, kerr.CoordinatorNotAvailable.Code
	}
	return shard{id: id, term: term, sm: sm}, 0
}

var errNotCoordinator = errors.New("this broker no longer coordinates the transactional id")

// put stores rec (read at rec.Version) as its next version, if this broker
// still leads the shard in the term it was read in.
func (c *Coordinator) put(ctx context.Context, s shard, rec group.TxnRecord) (group.TxnRecord, error) {
	rec, cmd, ok := c.nextVersion(s, rec)
	if !ok {
		return rec, errNotCoordinator
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.node.ProposeGroup(pctx, s.id, cmd); err != nil {
		return rec, fmt.Errorf("store transaction %q: %w", rec.ID, err)
	}
	c.stored(rec)
	return rec, nil
}

// nextVersion is rec as its next version and the command that stores it,
// if this broker still leads the shard in the term rec was read in.
func (c *Coordinator) nextVersion(s shard, rec group.TxnRecord) (group.TxnRecord, []byte, bool) {
	if term, leader := c.node.IsLeader(s.id); !leader || term != s.term {
		return rec, nil, false
	}
	rec.Version++
	rec.UpdateMs = time.Now().UnixMilli()
	return rec, group.Command{Txn: &group.TxnCommand{Put: &rec}}.Encode(), true
}

// stored notes a record written: c.finished keeps an id's completed
// transaction only while a record holds it as Prev.
func (c *Coordinator) stored(rec group.TxnRecord) {
	if rec.Prev == nil {
		c.mu.Lock()
		delete(c.finished, rec.ID)
		c.mu.Unlock()
	}
}

// putAsync proposes rec (read at rec.Version) as its next version and
// returns it with the wait for the write, or the code to answer.
func (c *Coordinator) putAsync(s shard, rec group.TxnRecord) (group.TxnRecord, func() error, int16) {
	rec, cmd, ok := c.nextVersion(s, rec)
	if !ok {
		return rec, nil, kerr.NotCoordinator.Code
	}
	wait, err := c.node.ProposeGroupAsync(s.id, cmd, 10*time.Second)
	if err != nil {
		// The shard's proposal queue is full, or it closed: retried.
		c.log.Debug().Err(err).Str("transactional_id", rec.ID).Msg("store transaction state")
		return rec, nil, kerr.ConcurrentTransactions.Code
	}
	return rec, func() error {
		err := wait()
		if err == nil {
			c.stored(rec)
		}
		return err
	}, 0
}

// putResult is the code to answer for a write's outcome.
func (c *Coordinator) putResult(rec group.TxnRecord, err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, group.ErrTxnConflict):
		return kerr.ConcurrentTransactions.Code
	default:
		c.log.Warn().Err(err).Str("transactional_id", rec.ID).Msg("store transaction state")
		return kerr.NotCoordinator.Code
	}
}

// overlap tells whether a producer's next transaction may begin while its
// previous one's markers are being written: only where every broker's
// partitions apply a copy of a marker as a no-op, since a failover can
// then resend them after the next transaction's records.
func (c *Coordinator) overlap() bool {
	return c.node.Meta().AllBrokersHave(meta.FeatureTxnMarkerSeq)
}

// putCode is put with its failure as the error code to answer: the record
// moved under this broker, or the shard's leadership did.
func (c *Coordinator) putCode(ctx context.Context, s shard, rec group.TxnRecord) (group.TxnRecord, int16) {
	rec, err := c.put(ctx, s, rec)
	return rec, c.putResult(rec, err)
}

// checkProducer answers a request of a producer on its transaction.
func checkProducer(rec group.TxnRecord, found bool, pid int64, epoch int16) int16 {
	switch {
	case !found || rec.ProducerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != rec.Epoch:
		return kerr.ProducerFenced.Code
	case rec.State == group.TxnPrepareCommit || rec.State == group.TxnPrepareAbort:
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}
