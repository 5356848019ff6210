package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/longboat/longboat/internal/cli"
)

// reassignPoll is how often `topics reassign` looks at a move in progress.
const reassignPoll = time.Second

// reassignResult is one partition's move as `topics reassign` saw it.
type reassignResult struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"`
	// Outcome: completed, cancelled (back on From), or in-progress when
	// the wait ended first.
	Outcome string  `json:"outcome"`
	Seconds float64 `json:"seconds"`
}

// reassign moves partitions of a topic onto replicas (or, cancel, takes
// their move back) with AlterPartitionReassignments, then follows the move
// with ListPartitionReassignments and Metadata until it ends or wait
// passes: a progress line on stderr per change, a summary on stdout.
func (t topicCmds) reassign(ctx context.Context, topic, partitionList, replicaList string, cancel bool, wait time.Duration) error {
	parts, err := parseIDs(partitionList, "--partition")
	if err != nil {
		return err
	}
	var target []int32
	switch {
	case cancel && replicaList != "":
		return usagef("--cancel takes no --replicas")
	case !cancel:
		if target, err = parseIDs(replicaList, "--replicas"); err != nil {
			return err
		}
	}
	before, err := t.replicaSets(ctx, topic)
	if err != nil {
		return err
	}
	var req kadm.AlterPartitionAssignmentsReq
	results := make([]reassignResult, len(parts))
	for i, p := range parts {
		from, ok := before[p]
		if !ok {
			return fmt.Errorf("topic %s has no partition %d", topic, p)
		}
		req.Assign(topic, p, target)
		results[i] = reassignResult{Topic: topic, Partition: p, From: from, To: target}
	}
	if cancel {
		moves, err := t.moves(ctx, topic)
		if err != nil {
			return err
		}
		for i := range results {
			if m, ok := moves[results[i].Partition]; ok {
				results[i].From = originalOf(m)
			}
			results[i].To = results[i].From
		}
	}
	start := time.Now()
	resp, err := t.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("%s/%d: %w: %s", r.Topic, r.Partition, r.Err, r.ErrMessage)
		}
	}
	wctx, stop := context.WithTimeout(context.Background(), wait)
	defer stop()
	last := map[int32]string{}
	for {
		moves, err := t.moves(ctx, topic)
		if err != nil {
			return err
		}
		running := 0
		for i := range results {
			r := &results[i]
			m, moving := moves[r.Partition]
			if !moving {
				if r.Outcome == "" {
					r.Outcome, r.Seconds = "completed", time.Since(start).Seconds()
					if cancel {
						r.Outcome = "cancelled"
					}
					fmt.Fprintf(t.s.err, "%6.1fs %s/%d done: replicas %s\n", r.Seconds, topic, r.Partition, joinIDs(r.To))
				}
				continue
			}
			running++
			line := fmt.Sprintf("replicas %s adding %s removing %s", joinIDs(m.Replicas), orDash(joinIDs(m.AddingReplicas)), orDash(joinIDs(m.RemovingReplicas)))
			if line != last[r.Partition] {
				last[r.Partition] = line
				fmt.Fprintf(t.s.err, "%6.1fs %s/%d %s\n", time.Since(start).Seconds(), topic, r.Partition, line)
			}
		}
		if running == 0 {
			break
		}
		select {
		case <-wctx.Done():
			for i := range results {
				if results[i].Outcome == "" {
					results[i].Outcome, results[i].Seconds = "in-progress", time.Since(start).Seconds()
				}
			}
			return printReassign(t, results)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(reassignPoll):
		}
	}
	return printReassign(t, results)
}

func printReassign(t topicCmds, results []reassignResult) error {
	g := &cli.Grid{Header: []string{"TOPIC", "PARTITION", "FROM", "TO", "OUTCOME", "SECONDS"}}
	for _, r := range results {
		g.Add(r.Topic, r.Partition, joinIDs(r.From), joinIDs(r.To), r.Outcome, fmt.Sprintf("%.1f", r.Seconds))
	}
	return cli.Print(t.s.out, t.f, results, g)
}

// originalOf is a move's replica set before it: its current set without
// the replicas it adds.
func originalOf(m kadm.ListPartitionReassignmentsResponse) []int32 {
	var out []int32
	for _, r := range m.Replicas {
		if !slices.Contains(m.AddingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// replicaSets is each partition's replica set in Metadata.
func (t topicCmds) replicaSets(ctx context.Context, topic string) (map[int32][]int32, error) {
	md, err := t.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	out := map[int32][]int32{}
	for _, p := range td.Partitions {
		out[p.Partition] = p.Replicas
	}
	return out, nil
}

// moves are the topic's partitions moving now.
func (t topicCmds) moves(ctx context.Context, topic string) (map[int32]kadm.ListPartitionReassignmentsResponse, error) {
	sets, err := t.replicaSets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ts := kadm.TopicsSet{topic: {}}
	for p := range sets {
		ts[topic][p] = struct{}{}
	}
	listed, err := t.adm.ListPartitionReassignments(ctx, ts)
	if err != nil {
		return nil, err
	}
	out := map[int32]kadm.ListPartitionReassignmentsResponse{}
	for _, r := range listed.Sorted() {
		out[r.Partition] = r
	}
	return out, nil
}

// parseIDs reads a comma-separated list of non-negative ids.
func parseIDs(s, flagName string) ([]int32, error) {
	if s == "" {
		return nil, usagef("%s is required", flagName)
	}
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, usagef("%s: %q is not a non-negative number", flagName, f)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
