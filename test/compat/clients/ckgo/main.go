// Command ckgo drives confluent-kafka-go (with the librdkafka it bundles)
// for the compatibility suite in test/compat. It is a module of its own so
// that the project's module does not depend on cgo or on this client.
//
//	ckgo version
//	ckgo < request.json > response.json
//
// It speaks the same JSON as clients/pyclient.py: an operation and its
// arguments in, records with base64 keys, values and header values out;
// {"error": "..."} and exit status 1 on failure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rec, header and prange mirror test/compat's types: their JSON is the
// protocol between the suite and this command.
type rec struct {
	Partition int32    `json:"p"`
	Offset    int64    `json:"o"`
	Key       []byte   `json:"k"`
	Value     []byte   `json:"v"`
	Headers   []header `json:"h"`
	Timestamp int64    `json:"ts"`
}

type header struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

type prange struct {
	Partition int32 `json:"p"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

type request struct {
	Op         string           `json:"op"`
	Bootstrap  []string         `json:"bootstrap"`
	ClientID   string           `json:"client_id"`
	Timeout    float64          `json:"timeout"`
	Topic      string           `json:"topic"`
	Acks       int              `json:"acks"`
	Codec      string           `json:"codec"`
	Idempotent bool             `json:"idempotent"`
	Records    []rec            `json:"records"`
	Ranges     []prange         `json:"ranges"`
	Group      string           `json:"group"`
	Want       int              `json:"want"`
	Partitions int              `json:"partitions"`
	Total      int              `json:"total"`
	Assignment [][]int32        `json:"assignment"`
	Partition  int32            `json:"partition"`
	TS         int64            `json:"ts"`
	Key        string           `json:"key"`
	Value      string           `json:"value"`
	Before     int64            `json:"before"`
	Offsets    map[string]int64 `json:"offsets"`
	TxnID      string           `json:"transactional_id"`
	Txns       []txnBatch       `json:"transactions"`
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		_, lib := kafka.LibraryVersion()
		v := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/confluentinc/confluent-kafka-go/v2" {
					v = d.Version
				}
			}
		}
		out(map[string]string{"version": "confluent-kafka-go " + v + ", bundled librdkafka " + lib})
		return
	}
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(req.Timeout*float64(time.Second)))
	defer cancel()
	resp, err := run(ctx, &req)
	var nr notDriven
	if errors.As(err, &nr) {
		out(map[string]string{"not_run": nr.Error()})
		return
	}
	var ue unsupported
	if errors.As(err, &ue) {
		out(map[string]string{"unsupported": string(ue)})
		return
	}
	if err != nil {
		fail(err)
	}
	out(resp)
}

func out(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		os.Exit(2)
	}
}

func fail(err error) {
	out(map[string]string{"error": err.Error()})
	os.Exit(1)
}

func (r *request) config(extra kafka.ConfigMap) *kafka.ConfigMap {
	c := kafka.ConfigMap{"bootstrap.servers": strings.Join(r.Bootstrap, ","), "client.id": r.ClientID}
	for k, v := range extra {
		c[k] = v
	}
	return &c
}

func run(ctx context.Context, r *request) (any, error) {
	switch r.Op {
	case "produce":
		return nil, produce(ctx, r)
	case "consume":
		recs, err := consume(ctx, r)
		return map[string]any{"records": recs}, err
	case "group_consume":
		recs, err := groupConsume(ctx, r)
		return map[string]any{"records": recs}, err
	case "create_topic", "describe_topic", "create_partitions", "delete_topic":
		return admin(ctx, r)
	case "offset_for_time":
		return offsetForTime(r)
	case "txn_produce":
		return nil, txnProduce(ctx, r)
	case "read_committed":
		values, err := readCommitted(ctx, r)
		return map[string]any{"values": values}, err
	case "describe_topic_id", "delete_topic_id":
		return nil, unsupported("confluent-kafka-go's admin addresses topics by name only (DescribeTopics takes a collection of names, DeleteTopics names)")
	case "alter_topic_config", "describe_topic_config", "delete_records":
		return adminTopic(ctx, r)
	case "list_groups", "describe_group", "group_offsets", "alter_group_offsets", "delete_group":
		return adminGroup(ctx, r)
	case "alter_quota", "describe_quotas":
		return nil, unsupported("confluent-kafka-go's AdminClient has no client quota calls")
	case "describe_quorum":
		return nil, unsupported("confluent-kafka-go's AdminClient has no metadata quorum call")
	}
	return nil, notDriven{r.Op}
}

// unsupported is an operation the library cannot express.
type unsupported string

func (e unsupported) Error() string { return string(e) }

// notDriven is an operation the suite asks for that this command does not
// drive (yet), though the library may have it.
type notDriven struct{ op string }

func (e notDriven) Error() string { return "clients/ckgo does not drive " + e.op }

func produce(ctx context.Context, r *request) error {
	p, err := kafka.NewProducer(r.config(kafka.ConfigMap{"acks": fmt.Sprint(r.Acks), "compression.type": r.Codec,
		"linger.ms": 5, "enable.idempotence": r.Idempotent}))
	if err != nil {
		return err
	}
	defer p.Close()
	done := make(chan kafka.Event, len(r.Records))
	for _, rc := range r.Records {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &r.Topic, Partition: rc.Partition}, Key: rc.Key, Value: rc.Value}
		for _, h := range rc.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if rc.Timestamp != 0 {
			m.Timestamp = time.UnixMilli(rc.Timestamp)
		}
		if err := p.Produce(m, done); err != nil {
			return err
		}
	}
	for range r.Records {
		select {
		case ev := <-done:
			if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				return fmt.Errorf("delivery: %w", m.TopicPartition.Error)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func toRec(m *kafka.Message) rec {
	out := rec{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli()}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, header{Key: h.Key, Value: h.Value})
	}
	return out
}

func consume(ctx context.Context, r *request) ([]rec, error) {
	c, err := kafka.NewConsumer(r.config(kafka.ConfigMap{"group.id": "compat-unused", "enable.auto.commit": false}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	left := map[int32]int64{}
	var tps []kafka.TopicPartition
	for _, pr := range r.Ranges {
		if pr.To > pr.From {
			left[pr.Partition] = pr.To
			tps = append(tps, kafka.TopicPartition{Topic: &r.Topic, Partition: pr.Partition, Offset: kafka.Offset(pr.From)})
		}
	}
	if err := c.Assign(tps); err != nil {
		return nil, err
	}
	var out []rec
	for len(left) > 0 {
		if ctx.Err() != nil {
			return out, fmt.Errorf("partitions %v not read to their end: %w", left, ctx.Err())
		}
		m, err := c.ReadMessage(200 * time.Millisecond)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.IsTimeout() {
				continue
			}
			return out, err
		}
		to, ok := left[m.TopicPartition.Partition]
		if !ok || int64(m.TopicPartition.Offset) >= to {
			continue
		}
		out = append(out, toRec(m))
		if int64(m.TopicPartition.Offset) >= to-1 {
			delete(left, m.TopicPartition.Partition)
		}
	}
	return out, nil
}

func groupConsume(ctx context.Context, r *request) ([]rec, error) {
	c, err := kafka.NewConsumer(r.config(kafka.ConfigMap{"group.id": r.Group, "auto.offset.reset": "earliest", "enable.auto.commit": false}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Subscribe(r.Topic, nil); err != nil {
		return nil, err
	}
	var out []rec
	for len(out) < r.Want {
		if ctx.Err() != nil {
			return out, fmt.Errorf("group consumed %d of %d: %w", len(out), r.Want, ctx.Err())
		}
		m, err := c.ReadMessage(200 * time.Millisecond)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.IsTimeout() {
				continue
			}
			return out, err
		}
		out = append(out, toRec(m))
	}
	if _, err := c.Commit(); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

func admin(ctx context.Context, r *request) (any, error) {
	a, err := kafka.NewAdminClient(r.config(nil))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	var results []kafka.TopicResult
	switch r.Op {
	case "create_topic":
		spec := kafka.TopicSpecification{Topic: r.Topic, NumPartitions: r.Partitions, ReplicationFactor: 3}
		if len(r.Assignment) > 0 {
			spec = kafka.TopicSpecification{Topic: r.Topic, NumPartitions: len(r.Assignment), ReplicaAssignment: r.Assignment}
		}
		results, err = a.CreateTopics(ctx, []kafka.TopicSpecification{spec})
	case "create_partitions":
		results, err = a.CreatePartitions(ctx, []kafka.PartitionsSpecification{{Topic: r.Topic, IncreaseTo: r.Total, ReplicaAssignment: r.Assignment}})
	case "delete_topic":
		results, err = a.DeleteTopics(ctx, []string{r.Topic})
	case "describe_topic":
		return describe(ctx, a, r.Topic)
	}
	if err != nil {
		return nil, err
	}
	for _, res := range results {
		if res.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("%s %s: %w", r.Op, res.Topic, res.Error)
		}
	}
	return map[string]any{}, nil
}

// describe uses the Admin API's DescribeTopics (Metadata underneath).
func describe(ctx context.Context, a *kafka.AdminClient, topic string) (any, error) {
	res, err := a.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic}))
	if err != nil {
		return nil, err
	}
	if len(res.TopicDescriptions) != 1 {
		return nil, fmt.Errorf("described %d topics", len(res.TopicDescriptions))
	}
	leaders := map[string]int{}
	for _, td := range res.TopicDescriptions {
		if td.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("describe %s: %w", td.Name, td.Error)
		}
		for _, p := range td.Partitions {
			if p.Leader == nil {
				return nil, fmt.Errorf("describe %s: partition %d has no leader", td.Name, p.Partition)
			}
			leaders[fmt.Sprint(p.Partition)] = p.Leader.ID
		}
	}
	return map[string]any{"name": res.TopicDescriptions[0].Name, "leaders": leaders}, nil
}

func offsetForTime(r *request) (any, error) {
	c, err := kafka.NewConsumer(r.config(kafka.ConfigMap{"group.id": "compat-unused"}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := c.OffsetsForTimes([]kafka.TopicPartition{{Topic: &r.Topic, Partition: r.Partition, Offset: kafka.Offset(r.TS)}},
		int(max(1000, r.Timeout*1000)))
	if err != nil {
		return nil, err
	}
	if len(res) != 1 || res[0].Error != nil {
		return nil, errors.Join(errors.New("offsets for times"), res[0].Error)
	}
	return map[string]int64{"offset": int64(res[0].Offset)}, nil
}

func adminTopic(ctx context.Context, r *request) (any, error) {
	a, err := kafka.NewAdminClient(r.config(nil))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	switch r.Op {
	case "alter_topic_config":
		res, err := a.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: r.Topic,
			Config: []kafka.ConfigEntry{{Name: r.Key, Value: r.Value, IncrementalOperation: kafka.AlterConfigOpTypeSet}}}})
		if err != nil {
			return nil, err
		}
		for _, rr := range res {
			if rr.Error.Code() != kafka.ErrNoError {
				return nil, rr.Error
			}
		}
		return map[string]any{}, nil
	case "describe_topic_config":
		res, err := a.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: r.Topic}})
		if err != nil {
			return nil, err
		}
		if len(res) != 1 || res[0].Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("describe configs of %s: %v", r.Topic, res)
		}
		e, ok := res[0].Config[r.Key]
		if !ok {
			return nil, fmt.Errorf("%s: no config %s described", r.Topic, r.Key)
		}
		return map[string]string{"value": e.Value}, nil
	}
	res, err := a.DeleteRecords(ctx, []kafka.TopicPartition{{Topic: &r.Topic, Partition: r.Partition, Offset: kafka.Offset(r.Before)}})
	if err != nil {
		return nil, err
	}
	if len(res.DeleteRecordsResults) != 1 {
		return nil, fmt.Errorf("delete records: %d results", len(res.DeleteRecordsResults))
	}
	d := res.DeleteRecordsResults[0]
	if d.TopicPartition.Error != nil || d.DeletedRecords == nil {
		return nil, fmt.Errorf("delete records: %v", d.TopicPartition.Error)
	}
	return map[string]int64{"low_watermark": int64(d.DeletedRecords.LowWatermark)}, nil
}

func adminGroup(ctx context.Context, r *request) (any, error) {
	a, err := kafka.NewAdminClient(r.config(nil))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	switch r.Op {
	case "list_groups":
		res, err := a.ListConsumerGroups(ctx)
		if err == nil {
			err = errors.Join(res.Errors...)
		}
		if err != nil {
			return nil, err
		}
		var groups []string
		for _, g := range res.Valid {
			groups = append(groups, g.GroupID)
		}
		return map[string]any{"groups": groups}, nil
	case "describe_group":
		res, err := a.DescribeConsumerGroups(ctx, []string{r.Group})
		if err != nil {
			return nil, err
		}
		if len(res.ConsumerGroupDescriptions) != 1 || res.ConsumerGroupDescriptions[0].Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("describe group %s: %v", r.Group, res.ConsumerGroupDescriptions)
		}
		d := res.ConsumerGroupDescriptions[0]
		var members []any
		for _, m := range d.Members {
			assigned := map[string][]int32{}
			for _, tp := range m.Assignment.TopicPartitions {
				assigned[*tp.Topic] = append(assigned[*tp.Topic], tp.Partition)
			}
			members = append(members, map[string]any{"client_id": m.ClientID, "assigned": assigned})
		}
		return map[string]any{"state": d.State.String(), "members": members}, nil
	case "group_offsets":
		res, err := a.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: r.Group}})
		if err != nil {
			return nil, err
		}
		offsets := map[string]int64{}
		for _, g := range res.ConsumerGroupsTopicPartitions {
			for _, tp := range g.Partitions {
				if tp.Error != nil {
					return nil, tp.Error
				}
				if *tp.Topic == r.Topic && tp.Offset >= 0 {
					offsets[fmt.Sprint(tp.Partition)] = int64(tp.Offset)
				}
			}
		}
		return map[string]any{"offsets": offsets}, nil
	case "alter_group_offsets":
		var tps []kafka.TopicPartition
		for p, o := range r.Offsets {
			var n int32
			if _, err := fmt.Sscan(p, &n); err != nil {
				return nil, fmt.Errorf("partition %q: %w", p, err)
			}
			tps = append(tps, kafka.TopicPartition{Topic: &r.Topic, Partition: n, Offset: kafka.Offset(o)})
		}
		res, err := a.AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: r.Group, Partitions: tps}})
		if err != nil {
			return nil, err
		}
		for _, g := range res.ConsumerGroupsTopicPartitions {
			for _, tp := range g.Partitions {
				if tp.Error != nil {
					return nil, tp.Error
				}
			}
		}
		return map[string]any{}, nil
	}
	res, err := a.DeleteConsumerGroups(ctx, []string{r.Group})
	if err != nil {
		return nil, err
	}
	for _, g := range res.ConsumerGroupResults {
		if g.Error.Code() != kafka.ErrNoError {
			return nil, g.Error
		}
	}
	return map[string]any{}, nil
}
