package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/cli"
)

const groupsUsage = `Usage:
  longboat groups list
  longboat groups describe       --group G
  longboat groups reset-offsets  --group G (--topic T[:P,P] ... | --all-topics)
                                 (--to-earliest | --to-latest | --to-offset N | --to-datetime RFC3339 | --shift-by N)
                                 [--execute]      (without it: print the plan only)
  longboat groups delete         --group G
  longboat groups delete-offsets --group G --topic T[:P,P] ...
Every action takes --bootstrap-server (alias --brokers), --output table|json and --timeout.
`

// groupsCmd inspects and manages consumer groups, like
// kafka-consumer-groups.sh.
func groupsCmd(args []string, s *stdio) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, groupsUsage)
		return usagef("missing action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(s.out, groupsUsage)
		return nil
	}
	action := args[0]
	if !slices.Contains([]string{"list", "describe", "reset-offsets", "delete", "delete-offsets"}, action) {
		fmt.Fprint(s.err, groupsUsage)
		return usagef("unknown action %q", action)
	}
	fs := flag.NewFlagSet("groups "+action, flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	group := fs.String("group", "", "group id")
	var topics multiFlag
	fs.Var(&topics, "topic", "reset-offsets, delete-offsets: TOPIC or TOPIC:P,P (repeatable)")
	var rs resetSpec
	fs.BoolVar(&rs.allTopics, "all-topics", false, "reset-offsets: every topic the group has offsets for")
	fs.BoolVar(&rs.earliest, "to-earliest", false, "reset-offsets: to each partition's log start")
	fs.BoolVar(&rs.latest, "to-latest", false, "reset-offsets: to each partition's log end")
	fs.Func("to-offset", "reset-offsets: to offset N (kept within the log)", rs.setInt(&rs.offset))
	fs.StringVar(&rs.datetime, "to-datetime", "", "reset-offsets: to the first record at or after this RFC3339 time")
	fs.Func("shift-by", "reset-offsets: move each committed offset by N (negative: back)", rs.setInt(&rs.shift))
	fs.BoolVar(&rs.execute, "execute", false, "reset-offsets: commit the plan (default: dry run)")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if action != "list" && *group == "" {
		return usagef("--group is required")
	}
	var tps []topicSel
	for _, t := range topics {
		tp, err := parseTopicPartitions(t)
		if err != nil {
			return err
		}
		tps = append(tps, tp)
	}
	ctx, adm, f, done, err := cf.admin()
	if err != nil {
		return err
	}
	defer done()
	g := groupCmds{adm: adm, s: s, f: f}
	switch action {
	case "list":
		err = g.list(ctx)
	case "describe":
		err = g.describe(ctx, *group)
	case "reset-offsets":
		err = g.reset(ctx, *group, tps, &rs)
	case "delete":
		err = g.delete(ctx, *group)
	case "delete-offsets":
		err = g.deleteOffsets(ctx, *group, tps)
	}
	return cf.explain(err)
}

type groupCmds struct {
	adm *kadm.Client
	s   *stdio
	f   cli.Format
}

type listedGroup struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func (g groupCmds) list(ctx context.Context) error {
	lgs, err := g.adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	grid := &cli.Grid{Header: []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}}
	doc := []listedGroup{}
	for _, l := range lgs.Sorted() {
		doc = append(doc, listedGroup{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Coordinator: l.Coordinator})
		grid.Add(l.Group, l.State, l.ProtocolType, l.Coordinator)
	}
	return cli.Print(g.s.out, g.f, doc, grid)
}

type memberDoc struct {
	MemberID   string   `json:"member_id"`
	InstanceID string   `json:"instance_id,omitempty"`
	ClientID   string   `json:"client_id"`
	Host       string   `json:"host"`
	Assignment []string `json:"assignment"`
}

type offsetDoc struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed_offset"`
	LogEnd    int64  `json:"log_end_offset"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

type groupDoc struct {
	Group        string      `json:"group"`
	State        string      `json:"state"`
	ProtocolType string      `json:"protocol_type"`
	Protocol     string      `json:"protocol"`
	Coordinator  int32       `json:"coordinator"`
	Members      []memberDoc `json:"members"`
	Offsets      []offsetDoc `json:"offsets"`
	TotalLag     int64       `json:"total_lag"`
}

// describe shows the group, its members and, per partition it has
// committed or is assigned, the committed offset, log end and lag.
func (g groupCmds) describe(ctx context.Context, group string) error {
	lags, err := g.adm.Lag(ctx, group)
	if err != nil {
		return err
	}
	l, ok := lags[group]
	if !ok {
		return fmt.Errorf("group %s: no answer from its coordinator", group)
	}
	if err := l.Error(); err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	if l.State == "Dead" && len(l.Lag) == 0 {
		return fmt.Errorf("group %s does not exist (`longboat groups list` shows the groups)", group)
	}
	doc := groupDoc{Group: group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []memberDoc{}, Offsets: []offsetDoc{}}
	members := &cli.Grid{Title: "Members", Header: []string{"MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"}}
	for _, m := range l.Members {
		md := memberDoc{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []string{}}
		if m.InstanceID != nil {
			md.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				md.Assignment = append(md.Assignment, fmt.Sprintf("%s:%s", t.Topic, joinIDs(t.Partitions)))
			}
		}
		doc.Members = append(doc.Members, md)
		members.Add(md.MemberID, orDash(md.InstanceID), md.ClientID, md.Host, orDash(strings.Join(md.Assignment, " ")))
	}
	offsets := &cli.Grid{Title: "Offsets", Header: []string{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID"}}
	for _, ml := range l.Lag.Sorted() {
		od := offsetDoc{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, LogEnd: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			od.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			od.Error = ml.Err.Error()
		}
		if od.Lag > 0 {
			doc.TotalLag += od.Lag
		}
		doc.Offsets = append(doc.Offsets, od)
		committed := "-"
		if od.Committed >= 0 {
			committed = fmt.Sprint(od.Committed)
		}
		offsets.Add(od.Topic, od.Partition, committed, od.LogEnd, od.Lag, orDash(od.MemberID))
	}
	summary := &cli.Grid{Header: []string{"GROUP", "STATE", "PROTOCOL-TYPE", "PROTOCOL", "COORDINATOR", "MEMBERS", "TOTAL-LAG"}}
	summary.Add(group, l.State, orDash(l.ProtocolType), orDash(l.Protocol), doc.Coordinator, len(doc.Members), doc.TotalLag)
	grids := []*cli.Grid{summary, members, offsets}
	if len(doc.Members) == 0 {
		grids = []*cli.Grid{summary, offsets}
	}
	return cli.Print(g.s.out, g.f, doc, grids...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// resetSpec is where reset-offsets moves each partition.
type resetSpec struct {
	allTopics, earliest, latest, execute bool
	datetime                             string
	offset, shift                        *int64
}

func (rs *resetSpec) setInt(dst **int64) func(string) error {
	return func(v string) error {
		var n int64
		if _, err := fmt.Sscan(v, &n); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*dst = &n
		return nil
	}
}

func (rs *resetSpec) check() error {
	n := 0
	for _, set := range []bool{rs.earliest, rs.latest, rs.offset != nil, rs.datetime != "", rs.shift != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	return nil
}

type planRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"`
	New       int64  `json:"new_offset"`
}

// reset plans new committed offsets and, with --execute, commits them.
// Kafka refuses to reset a group that has members (they would overwrite
// the reset with their next commit); so does this.
func (g groupCmds) reset(ctx context.Context, group string, tps []topicSel, rs *resetSpec) error {
	if err := rs.check(); err != nil {
		return err
	}
	if (len(tps) == 0) == !rs.allTopics {
		return usagef("give --topic T[:P,P] (repeatable) or --all-topics")
	}
	var at int64
	if rs.datetime != "" {
		t, err := time.Parse(time.RFC3339, rs.datetime)
		if err != nil {
			return usagef("--to-datetime %q: want RFC3339, like 2026-12-02T09:00:00Z", rs.datetime)
		}
		at = t.UnixMilli()
	}
	dgs, err := g.adm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	dg := dgs[group]
	if err := withMessage(dg.Err, dg.ErrMessage); err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	if len(dg.Members) > 0 {
		return fmt.Errorf("group %s has %d active members (state %s): stop its consumers first, then reset", group, len(dg.Members), dg.State)
	}
	current, err := g.adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	if rs.allTopics {
		for _, t := range sortedKeys(current) {
			tps = append(tps, topicSel{Topic: t})
		}
		if len(tps) == 0 {
			return fmt.Errorf("group %s has no committed offsets; name the topics with --topic", group)
		}
	}
	set, err := resolve(ctx, g.adm, tps)
	if err != nil {
		return err
	}
	topics := set.Topics()
	starts, err := g.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	ends, err := g.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	var byTime kadm.ListedOffsets
	if rs.datetime != "" {
		if byTime, err = g.adm.ListOffsetsAfterMilli(ctx, at, topics...); err != nil {
			return err
		}
	}
	plan := []planRow{}
	commit := kadm.Offsets{}
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			lo, lerr := offsetAt(starts, tp.Topic, p)
			hi, herr := offsetAt(ends, tp.Topic, p)
			if err := firstErr(lerr, herr); err != nil {
				return err
			}
			cur := int64(-1)
			if o, ok := current.Lookup(tp.Topic, p); ok && o.Err == nil {
				cur = o.At
			}
			var next int64
			switch {
			case rs.earliest:
				next = lo
			case rs.latest:
				next = hi
			case rs.offset != nil:
				next = *rs.offset
			case rs.datetime != "":
				next = hi // no record at or after the time: the end, as Kafka does
				if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
					next = o.Offset
				}
			case rs.shift != nil:
				if cur < 0 {
					return fmt.Errorf("%s partition %d has no committed offset to shift; use --to-earliest or --to-offset", tp.Topic, p)
				}
				next = cur + *rs.shift
			}
			next = max(lo, min(hi, next))
			plan = append(plan, planRow{Topic: tp.Topic, Partition: p, Current: cur, New: next})
			commit.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: next, LeaderEpoch: -1})
		}
	}
	grid := &cli.Grid{Header: []string{"GROUP", "TOPIC", "PARTITION", "CURRENT", "NEW"}}
	for _, r := range plan {
		cur := "-"
		if r.Current >= 0 {
			cur = fmt.Sprint(r.Current)
		}
		grid.Add(group, r.Topic, r.Partition, cur, r.New)
	}
	if !rs.execute {
		fmt.Fprintln(g.s.err, "dry run: nothing committed; add --execute to commit these offsets")
		return cli.Print(g.s.out, g.f, map[string]any{"group": group, "executed": false, "plan": plan}, grid)
	}
	for _, tp := range set.Sorted() {
		one := kadm.Offsets{}
		for _, p := range tp.Partitions {
			o, _ := commit.Lookup(tp.Topic, p)
			one.Add(o)
		}
		resp, err := g.adm.CommitOffsets(ctx, group, one)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
			err = fmt.Errorf("%w (a consumer joined the group meanwhile: stop it and run the reset again)", err)
		}
		if err != nil {
			return fmt.Errorf("commit %s offsets of %s: %w", group, tp.Topic, err)
		}
		fmt.Fprintf(g.s.err, "reset %s: topic %s, %d partitions committed\n", group, tp.Topic, len(tp.Partitions))
	}
	return cli.Print(g.s.out, g.f, map[string]any{"group": group, "executed": true, "plan": plan}, grid)
}

func offsetAt(l kadm.ListedOffsets, topic string, p int32) (int64, error) {
	o, ok := l.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("%s partition %d: no offsets listed", topic, p)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("%s partition %d: %w", topic, p, o.Err)
	}
	return o.Offset, nil
}

func (g groupCmds) delete(ctx context.Context, group string) error {
	resp, err := g.adm.DeleteGroups(ctx, group)
	if err != nil {
		return err
	}
	r := resp[group]
	if errors.Is(r.Err, kerr.NonEmptyGroup) {
		return fmt.Errorf("group %s: %w (stop its consumers first)", group, r.Err)
	}
	if r.Err != nil {
		return fmt.Errorf("group %s: %w", group, r.Err)
	}
	return printDone(g.s, g.f, map[string]string{"deleted": group}, "deleted group %s", group)
}

type deletedOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (g groupCmds) deleteOffsets(ctx context.Context, group string, tps []topicSel) error {
	if len(tps) == 0 {
		return usagef("--topic T[:P,P] is required")
	}
	set, err := resolve(ctx, g.adm, tps)
	if err != nil {
		return err
	}
	resp, err := g.adm.DeleteOffsets(ctx, group, set)
	if err != nil {
		return err
	}
	grid := &cli.Grid{Header: []string{"GROUP", "TOPIC", "PARTITION"}}
	doc := []deletedOffset{}
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			if err := resp[tp.Topic][p]; err != nil {
				if errors.Is(err, kerr.GroupSubscribedToTopic) {
					err = fmt.Errorf("%w (the group's members consume it: stop them first)", err)
				}
				return fmt.Errorf("delete %s offsets of %s partition %d: %w", group, tp.Topic, p, err)
			}
			doc = append(doc, deletedOffset{Topic: tp.Topic, Partition: p})
			grid.Add(group, tp.Topic, p)
		}
	}
	return cli.Print(g.s.out, g.f, map[string]any{"group": group, "deleted": doc}, grid)
}
