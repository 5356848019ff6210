package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/cli"
)

const topicsUsage = `Usage:
  longboat topics list
  longboat topics describe       --topic T
  longboat topics create         --topic T [--partitions 6] [--replication-factor 3] [--config k=v,...]
  longboat topics create         --topic T --replica-assignment B:B,B:B,... [--config k=v,...]
                                 (partition 0 on brokers B:B, partition 1 on the next, ...; the first leads)
  longboat topics delete         --topic T
  longboat topics alter-config   --topic T [--add-config k=v,...] [--delete-config k,...]
  longboat topics add-partitions --topic T --partitions N [--replica-assignment B:B,...]
                                 (N: the new total; the assignment places the new partitions)
  longboat topics delete-records --topic T[:P,P] --offset N|end (drop records before N)
  longboat topics reassign       --topic T --partition P[,P] --replicas B,B,B | --cancel [--wait 10m]
                                 (move partitions onto brokers B; progress on stderr, summary at the end)
Every action takes --bootstrap-server (alias --brokers), --output table|json and --timeout.
`

// topicsCmd manages topics through the Kafka protocol, like
// kafka-topics.sh.
func topicsCmd(args []string, s *stdio) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, topicsUsage)
		return usagef("missing action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(s.out, topicsUsage)
		return nil
	}
	action := args[0]
	if !slices.Contains([]string{"list", "describe", "create", "delete", "alter-config", "add-partitions", "delete-records", "reassign"}, action) {
		fmt.Fprint(s.err, topicsUsage)
		return usagef("unknown action %q", action)
	}
	fs := flag.NewFlagSet("topics "+action, flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	topic := fs.String("topic", "", "topic name (delete-records: TOPIC or TOPIC:P,P)")
	partitions := fs.Int("partitions", 6, "create: partitions; add-partitions: the new total")
	rf := fs.Int("replication-factor", 3, "create: replicas of each partition")
	configs := fs.String("config", "", "create: topic configs k=v,k2=v2")
	assignment := fs.String("replica-assignment", "", "create, add-partitions: the (new) partitions' brokers, B:B:B per partition, partitions separated by commas; the first broker of each leads")
	adds := fs.String("add-config", "", "alter-config: configs to set, k=v,k2=v2")
	dels := fs.String("delete-config", "", "alter-config: configs to return to their default, k,k2")
	offset := fs.String("offset", "", "delete-records: delete every record before this offset, or end")
	partitionList := fs.String("partition", "", "reassign: the partitions to move, P or P,P")
	replicaList := fs.String("replicas", "", "reassign: the target brokers, B,B,B (the first is the preferred leader)")
	cancelMove := fs.Bool("cancel", false, "reassign: take back the partitions' move in progress")
	wait := fs.Duration("wait", 10*time.Minute, "reassign: follow the move this long (0: do not wait)")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if action != "list" && *topic == "" {
		return usagef("--topic is required")
	}
	if action == "reassign" {
		cf.timeout += *wait // --timeout bounds each request; the move may take longer
	}
	var sets [][]int32
	if *assignment != "" {
		var err error
		if sets, err = parseAssignment(*assignment); err != nil {
			return err
		}
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		if action == "create" && (explicit["partitions"] || explicit["replication-factor"]) {
			return usagef("--replica-assignment sets the partitions and the replication factor: give it without --partitions and --replication-factor")
		}
	}
	f, err := cf.format()
	if err != nil {
		return err
	}
	ctx, cl, done, err := cf.client()
	if err != nil {
		return err
	}
	defer done()
	adm := kadm.NewClient(cl)
	t := topicCmds{cl: cl, adm: adm, s: s, f: f, timeoutMs: int32(cf.timeout.Milliseconds())}
	switch action {
	case "list":
		err = t.list(ctx)
	case "describe":
		err = t.describe(ctx, *topic)
	case "create":
		err = t.create(ctx, *topic, *partitions, *rf, *configs, sets)
	case "delete":
		err = t.delete(ctx, *topic)
	case "alter-config":
		var alters []kadm.AlterConfig
		if alters, err = parseAlters(*adds, *dels); err != nil {
			return err
		}
		res := configResource{adm: adm, kind: "topics", name: *topic}
		if err = res.alter(ctx, alters); err == nil {
			var rows []configRow
			if rows, err = res.describe(ctx, false); err == nil {
				err = printConfigs(s, f, res, rows)
			}
		}
	case "add-partitions":
		err = t.addPartitions(ctx, *topic, *partitions, sets)
	case "delete-records":
		err = t.deleteRecords(ctx, *topic, *offset)
	case "reassign":
		err = t.reassign(ctx, *topic, *partitionList, *replicaList, *cancelMove, *wait)
	}
	return cf.explain(err)
}

type topicCmds struct {
	cl        *kgo.Client
	adm       *kadm.Client
	s         *stdio
	f         cli.Format
	timeoutMs int32 // what requests with a timeout ask the broker for
}

type topicSummary struct {
	Topic             string `json:"topic"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func (t topicCmds) list(ctx context.Context) error {
	tds, err := t.adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	g := &cli.Grid{Header: []string{"TOPIC", "PARTITIONS", "REPLICATION-FACTOR"}}
	doc := []topicSummary{}
	for _, td := range tds.Sorted() {
		sum := topicSummary{Topic: td.Topic, Partitions: len(td.Partitions), ReplicationFactor: td.Partitions.NumReplicas()}
		doc = append(doc, sum)
		g.Add(sum.Topic, sum.Partitions, sum.ReplicationFactor)
	}
	return cli.Print(t.s.out, t.f, doc, g)
}

type partitionRow struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Epoch     int32   `json:"leader_epoch"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	LogStart  int64   `json:"log_start_offset"`
	LogEnd    int64   `json:"log_end_offset"`
	Error     string  `json:"error,omitempty"`
}

// describe prints one row per partition and then the configs set on the
// topic. The partition table's first two columns are what
// scripts/smoke-test.sh reads (partition, leader), so they stay first.
func (t topicCmds) describe(ctx context.Context, topic string) error {
	tds, err := t.adm.ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("topic %s: %w", topic, withMessage(firstErr(td.Err, errUnknownTopic), ""))
	}
	starts, err := t.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("log start offsets: %w", err)
	}
	ends, err := t.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("log end offsets: %w", err)
	}
	res := configResource{adm: t.adm, kind: "topics", name: topic}
	cfgs, err := res.describe(ctx, false)
	if err != nil {
		return err
	}
	var set []configRow
	for _, c := range cfgs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig.String() {
			set = append(set, c)
		}
	}
	parts := &cli.Grid{Header: []string{"TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "LOG-END", "ERROR"}}
	rows := []partitionRow{}
	for _, pd := range td.Partitions.Sorted() {
		r := partitionRow{Partition: pd.Partition, Leader: pd.Leader, Epoch: pd.LeaderEpoch, Replicas: pd.Replicas, ISR: pd.ISR, LogStart: -1, LogEnd: -1}
		if o, ok := starts.Lookup(topic, pd.Partition); ok && o.Err == nil {
			r.LogStart = o.Offset
		}
		if o, ok := ends.Lookup(topic, pd.Partition); ok && o.Err == nil {
			r.LogEnd = o.Offset
		}
		if e := firstErr(pd.Err); e != nil {
			r.Error = e.Error()
		}
		rows = append(rows, r)
		leader := "none"
		if r.Leader >= 0 {
			leader = strconv.Itoa(int(r.Leader))
		}
		parts.Add(topic, r.Partition, leader, r.Epoch, joinIDs(r.Replicas), joinIDs(r.ISR), r.LogStart, r.LogEnd, r.Error)
	}
	grids := []*cli.Grid{parts}
	if len(set) > 0 {
		g := &cli.Grid{Header: []string{"CONFIG", "VALUE"}}
		for _, c := range set {
			g.Add(c.Name, c.Value)
		}
		grids = append(grids, g)
	}
	doc := map[string]any{"topic": topic, "topic_id": td.ID.String(), "partitions": rows, "configs": nonNil(set)}
	return cli.Print(t.s.out, t.f, doc, grids...)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// create creates a topic of partitions x rf, or with the replica sets
// given (kafka-topics.sh --replica-assignment).
func (t topicCmds) create(ctx context.Context, topic string, partitions, rf int, configs string, sets [][]int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = t.timeoutMs
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(partitions), int16(rf)
	for _, kv := range splitConfigs(configs) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("--config %q: want key=value", kv)
		}
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, &v
		rt.Configs = append(rt.Configs, c)
	}
	if len(sets) > 0 {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for i, set := range sets {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), set
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err == nil && len(resp.Topics) != 1 {
		err = fmt.Errorf("the broker answered for %d topics, not 1", len(resp.Topics))
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	r := resp.Topics[0]
	if err := withMessage(kerr.ErrorForCode(r.ErrorCode), kmsgText(r.ErrorMessage)); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return printDone(t.s, t.f, topicSummary{Topic: topic, Partitions: int(r.NumPartitions), ReplicationFactor: int(r.ReplicationFactor)},
		"created topic %s: %d partitions, replication factor %d", topic, r.NumPartitions, r.ReplicationFactor)
}

func (t topicCmds) delete(ctx context.Context, topic string) error {
	resp, err := t.adm.DeleteTopics(ctx, topic)
	if err != nil {
		return err
	}
	r, err := resp.On(topic, nil)
	if err := firstErr(err, withMessage(r.Err, r.ErrMessage)); err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return printDone(t.s, t.f, map[string]string{"deleted": topic}, "deleted topic %s", topic)
}

// addPartitions raises the topic's partition count to total, as
// kafka-topics.sh --alter --partitions does.
func (t topicCmds) addPartitions(ctx context.Context, topic string, total int, sets [][]int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = t.timeoutMs
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, int32(total)
	for _, set := range sets {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = set
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err == nil && len(resp.Topics) != 1 {
		err = fmt.Errorf("the broker answered for %d topics, not 1", len(resp.Topics))
	}
	if err == nil {
		err = withMessage(kerr.ErrorForCode(resp.Topics[0].ErrorCode), kmsgText(resp.Topics[0].ErrorMessage))
	}
	if err != nil {
		return fmt.Errorf("topic %s to %d partitions: %w", topic, total, err)
	}
	return printDone(t.s, t.f, map[string]any{"topic": topic, "partitions": total}, "topic %s now has %d partitions", topic, total)
}

type deletedRow struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	LowWatermark int64  `json:"low_watermark"`
}

// deleteRecords moves each partition's log start to offset (or to its end),
// like kafka-delete-records.sh.
func (t topicCmds) deleteRecords(ctx context.Context, topicArg, offset string) error {
	if offset == "" {
		return usagef("--offset is required (a number, or end)")
	}
	var at int64 = -1
	if offset != "end" {
		n, err := strconv.ParseInt(offset, 10, 64)
		if err != nil || n < 0 {
			return usagef("--offset %q: a number of 0 or more, or end", offset)
		}
		at = n
	}
	tp, err := parseTopicPartitions(topicArg)
	if err != nil {
		return err
	}
	set, err := resolve(ctx, t.adm, []topicSel{tp})
	if err != nil {
		return err
	}
	os := kadm.Offsets{}
	for _, p := range set.Sorted()[0].Partitions {
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: at})
	}
	resp, err := t.adm.DeleteRecords(ctx, os)
	if err != nil {
		return err
	}
	g := &cli.Grid{Header: []string{"TOPIC", "PARTITION", "LOW-WATERMARK"}}
	rows := []deletedRow{}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("delete records of %s partition %d: %w", r.Topic, r.Partition, r.Err)
		}
		rows = append(rows, deletedRow{Topic: r.Topic, Partition: r.Partition, LowWatermark: r.LowWatermark})
		g.Add(r.Topic, r.Partition, r.LowWatermark)
	}
	return cli.Print(t.s.out, t.f, rows, g)
}

// parseAssignment reads kafka-topics.sh's --replica-assignment: partitions
// separated by commas, each its brokers separated by colons.
func parseAssignment(s string) ([][]int32, error) {
	var sets [][]int32
	for _, part := range strings.Split(s, ",") {
		set, err := parseIDs(strings.ReplaceAll(part, ":", ","), "--replica-assignment")
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// kmsgText is a response's optional error message, "" when absent.
func kmsgText(msg *string) string {
	if msg == nil {
		return ""
	}
	return *msg
}
