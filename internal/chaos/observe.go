package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// observer asks the cluster who leads what, through Kafka Metadata and the
// brokers' HTTP endpoints.
type observer struct {
	b     Backend
	adm   *kadm.Client
	cl    *kgo.Client
	topic string
}

func newObserver(b Backend, topic string) (*observer, error) {
	var seeds []string
	for _, i := range allBrokers(b) {
		seeds = append(seeds, b.KafkaAddr(i))
	}
	cl, err := kgo.NewClient(clientOpts(seeds)...)
	if err != nil {
		return nil, err
	}
	return &observer{b: b, cl: cl, adm: kadm.NewClient(cl), topic: topic}, nil
}

func (o *observer) close() { o.cl.Close() }

// leaders maps each partition to its leader broker (-1 when none).
func (o *observer) leaders(ctx context.Context) (map[int32]int, error) {
	return o.leadersOf(ctx, o.topic)
}

// leadersOf maps each partition of a topic to its leader's broker id.
func (o *observer) leadersOf(ctx context.Context, topic string) (map[int32]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	md, err := o.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	t, ok := md.Topics[topic]
	if !ok || t.Err != nil {
		return nil, fmt.Errorf("metadata of %s: %v", topic, t.Err)
	}
	out := map[int32]int{}
	for p, d := range t.Partitions {
		out[p] = int(d.Leader)
	}
	return out, nil
}

// replicaSets maps each partition of the workload's topic to its replica
// set as Metadata lists it (during a move: the target, then the replicas
// leaving).
func (o *observer) replicaSets(ctx context.Context) (map[int32][]int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	md, err := o.adm.Metadata(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	t, ok := md.Topics[o.topic]
	if !ok || t.Err != nil {
		return nil, fmt.Errorf("metadata of %s: %v", o.topic, t.Err)
	}
	out := map[int32][]int32{}
	for p, d := range t.Partitions {
		out[p] = d.Replicas
	}
	return out, nil
}

// metaLeader is the __meta leader most brokers report in /v1/status.
func (o *observer) metaLeader() (int, error) {
	votes := map[int]int{}
	for _, i := range allBrokers(o.b) {
		body, err := httpGet(o.b.HTTPAddr(i), "/v1/status")
		if err != nil {
			continue
		}
		var st struct {
			MetaLeader int `json:"meta_leader"`
		}
		if json.Unmarshal(body, &st) == nil && st.MetaLeader > 0 {
			votes[st.MetaLeader]++
		}
	}
	best, n := 0, 0
	for id, v := range votes {
		if v > n {
			best, n = id, v
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no broker reports a __meta leader")
	}
	return best, nil
}

// leaderChanges reads longboat_raft_leadership_changes_total from broker
// i, by group kind.
func leaderChanges(b Backend, i int) (map[string]float64, error) {
	body, err := httpGet(b.HTTPAddr(i), "/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	const name = "longboat_raft_leadership_changes_total{"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		kind := line[strings.Index(line, `group_kind="`)+len(`group_kind="`):]
		kind = kind[:strings.Index(kind, `"`)]
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			out[kind] = v
		}
	}
	return out, nil
}

// changeSample is every broker's leadership-change counters at one time.
type changeSample map[int]map[string]float64

func sampleChanges(b Backend) changeSample {
	s := changeSample{}
	for _, i := range allBrokers(b) {
		if m, err := leaderChanges(b, i); err == nil {
			s[i] = m
		}
	}
	return s
}

// changesBetween is the leadership changes seen between two samples: each
// broker observes every change of a shard it hosts (all of them at RF 3 on
// three brokers; with a fourth broker, an undercount), so the largest
// per-broker increase is the count.
func changesBetween(a, b changeSample) (meta, partition float64, ok bool) {
	for i, m0 := range a {
		m1, found := b[i]
		if !found {
			continue
		}
		ok = true
		meta = max(meta, m1["meta"]-m0["meta"])
		partition = max(partition, m1["partition"]-m0["partition"])
	}
	return meta, partition, ok
}
