package main

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type txnBatch struct {
	Values []string `json:"values"`
	Commit bool     `json:"commit"`
}

// txnProduce runs the request's transactions in order on one transactional
// producer, committing or aborting each as it says.
func txnProduce(ctx context.Context, r *request) error {
	p, err := kafka.NewProducer(r.config(kafka.ConfigMap{"transactional.id": r.TxnID, "transaction.timeout.ms": 30000}))
	if err != nil {
		return err
	}
	defer p.Close()
	go func() {
		for range p.Events() {
		}
	}()
	if err := p.InitTransactions(ctx); err != nil {
		return fmt.Errorf("init transactions: %w", err)
	}
	for _, t := range r.Txns {
		if err := p.BeginTransaction(); err != nil {
			return err
		}
		for _, v := range t.Values {
			if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &r.Topic, Partition: kafka.PartitionAny}, Value: []byte(v)}, nil); err != nil {
				return err
			}
		}
		end := p.CommitTransaction
		if !t.Commit {
			end = p.AbortTransaction
		}
		if err := end(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readCommitted reads the whole topic under read_committed until it has
// r.Want values and two seconds bring no more.
func readCommitted(ctx context.Context, r *request) ([]string, error) {
	c, err := kafka.NewConsumer(r.config(kafka.ConfigMap{"group.id": "compat-unused", "enable.auto.commit": false,
		"isolation.level": "read_committed", "auto.offset.reset": "earliest"}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	md, err := c.GetMetadata(&r.Topic, false, 30000)
	if err != nil {
		return nil, err
	}
	var tps []kafka.TopicPartition
	for _, p := range md.Topics[r.Topic].Partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &r.Topic, Partition: p.ID, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		return nil, err
	}
	var out []string
	last := time.Now()
	for ctx.Err() == nil {
		m, err := c.ReadMessage(200 * time.Millisecond)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.IsTimeout() {
				if len(out) >= r.Want && time.Since(last) > 2*time.Second {
					return out, nil
				}
				continue
			}
			return out, err
		}
		out = append(out, string(m.Value))
		last = time.Now()
	}
	return out, fmt.Errorf("read %d of %d values: %w", len(out), r.Want, ctx.Err())
}
