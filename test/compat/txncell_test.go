package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// transactor is a client with a transactional producer and a
// read_committed consumer.
type transactor interface {
	// txnProduce runs txns in order on one producer with transactional
	// id id, committing or aborting each as it says.
	txnProduce(ctx context.Context, topic, id string, txns []txnBatch) error
	// readCommitted reads the whole topic under read_committed until it
	// has at least want values and two seconds bring no more.
	readCommitted(ctx context.Context, topic string, want int) ([]string, error)
}

type txnBatch struct {
	Values []string `json:"values"`
	Commit bool     `json:"commit"`
}

// quietAfter is how long a read_committed read goes on after it has what
// it wants, so that records it should not see have time to show.
const quietAfter = 2 * time.Second

// txnRoundTrip commits a transaction, aborts one and commits another, and
// checks the client's own read_committed read returns exactly the
// committed values, each once.
func txnRoundTrip(ctx context.Context, e *env, cl client, topic string) error {
	tc, ok := cl.(transactor)
	if !ok {
		return unsupported("%s has no transactional producer", cl.name())
	}
	if err := e.v.ensureTopic(ctx, topic, 3); err != nil {
		return err
	}
	seq := func(prefix string) []string {
		out := make([]string, 12)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%s-%d", cl.name(), prefix, i)
		}
		return out
	}
	txns := []txnBatch{{seq("committed"), true}, {seq("aborted"), false}, {seq("committed-again"), true}}
	if err := tc.txnProduce(ctx, topic, "compat-txn-"+cl.name(), txns); err != nil {
		return fmt.Errorf("transactional produce: %w", err)
	}
	got, err := tc.readCommitted(ctx, topic, 24)
	if err != nil {
		return fmt.Errorf("read_committed: %w", err)
	}
	want := append(slices.Clone(txns[0].Values), txns[2].Values...)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("read_committed returned %d values %v; want the %d committed ones %v", len(got), got, len(want), want)
	}
	return nil
}

func (c *franzClient) txnProduce(ctx context.Context, topic, id string, txns []txnBatch) error {
	cl, err := kgo.NewClient(c.opts(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, t := range txns {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		var recs []*kgo.Record
		for _, v := range t.Values {
			recs = append(recs, kgo.StringRecord(v))
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(t.Commit)); err != nil {
			return err
		}
	}
	return nil
}

func (c *franzClient) readCommitted(ctx context.Context, topic string, want int) ([]string, error) {
	cl, err := kgo.NewClient(c.opts(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []string
	for {
		pctx, cancel := context.WithTimeout(ctx, quietAfter)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return out, fmt.Errorf("read %d of %d values: %w", len(out), want, ctx.Err())
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)); n++ })
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return out, fe.Err
			}
		}
		if n == 0 && len(out) >= want {
			return out, nil
		}
	}
}

// saramaTxnConfig is a transactional producer's configuration; sarama
// needs the idempotent producer, acks=all and one request in flight.
func (c *saramaClient) saramaTxnConfig(id string) *sarama.Config {
	cfg := c.config()
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Net.MaxOpenRequests = 1
	return cfg
}

func (c *saramaClient) txnProduce(ctx context.Context, topic, id string, txns []txnBatch) error {
	p, err := sarama.NewSyncProducer(c.addrs, c.saramaTxnConfig(id))
	if err != nil {
		return err
	}
	defer p.Close()
	for _, t := range txns {
		if err := p.BeginTxn(); err != nil {
			return err
		}
		var msgs []*sarama.ProducerMessage
		for _, v := range t.Values {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
		}
		if err := p.SendMessages(msgs); err != nil {
			return err
		}
		end := p.CommitTxn
		if !t.Commit {
			end = p.AbortTxn
		}
		if err := end(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func (c *saramaClient) readCommitted(ctx context.Context, topic string, want int) ([]string, error) {
	cfg := c.config()
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cons, err := sarama.NewConsumer(c.addrs, cfg)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		return nil, err
	}
	values := make(chan string)
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case values <- string(m.Value):
					case <-cctx.Done():
						return
					}
				case <-cctx.Done():
					return
				}
			}
		}()
	}
	var out []string
	quiet := time.NewTimer(quietAfter)
	defer quiet.Stop()
	for {
		select {
		case v := <-values:
			out = append(out, v)
			quiet.Reset(quietAfter)
		case <-quiet.C:
			if len(out) >= want {
				return out, nil
			}
			quiet.Reset(quietAfter)
		case <-ctx.Done():
			return out, fmt.Errorf("read %d of %d values: %w", len(out), want, ctx.Err())
		}
	}
}

func (c *procClient) txnProduce(ctx context.Context, topic, id string, txns []txnBatch) error {
	return c.call(ctx, "txn_produce", map[string]any{"topic": topic, "transactional_id": id, "transactions": txns}, nil)
}

func (c *procClient) readCommitted(ctx context.Context, topic string, want int) ([]string, error) {
	var resp struct{ Values []string }
	err := c.call(ctx, "read_committed", map[string]any{"topic": topic, "want": want}, &resp)
	return resp.Values, err
}
