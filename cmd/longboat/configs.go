package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/cli"
)

const configsUsage = `Usage:
  longboat configs describe --entity-type topics|brokers --entity-name X [--all]
  longboat configs alter    --entity-type topics --entity-name X [--add-config k=v,k2=[a,b]] [--delete-config k,k2]
  longboat configs describe --entity-type brokers --entity-default
  longboat configs alter    --entity-type brokers --entity-default [--add-config k=v] [--delete-config k]
  longboat configs describe --entity-type users|clients [--entity-name X | --entity-default] ...
  longboat configs alter    --entity-type users|clients (--entity-name X | --entity-default) ... [--add-config k=v] [--delete-config k]
  longboat configs describe --entity-type groups --entity-name GROUP [--all]
  longboat configs alter    --entity-type groups --entity-name GROUP [--add-config k=v] [--delete-config k]
  longboat configs describe --entity-type ips [--entity-name IP | --entity-default]
  longboat configs alter    --entity-type ips (--entity-name IP | --entity-default) [--add-config connection_creation_rate=N] [--delete-config connection_creation_rate]

The brokers' default entity holds the cluster-wide dynamic broker configs: the
broker configs behind topic defaults (log.retention.ms, message.max.bytes,
log.cleanup.policy, min.insync.replicas, ...), which every topic without its
own value follows at once. The other broker configs are longboat serve flags.

Groups hold a consumer group's own KIP-848 consumer.session.timeout.ms and
consumer.heartbeat.interval.ms (Kafka 4.0's group configs) over the broker's
--group-consumer-session-timeout and --group-consumer-heartbeat-interval.

Users and clients hold client quotas (producer_byte_rate, consumer_byte_rate:
bytes per second per broker; controller_mutation_rate: partitions created or
deleted per second; request_percentage: time handling requests per broker, in
percent of one thread), as kafka-configs.sh: give --entity-type twice
for a user's client id, each followed by its --entity-name or
--entity-default (for example --entity-type users --entity-name alice
--entity-type clients --entity-default). Describe without a name lists every
entity of those types.

Ips hold connection_creation_rate (KIP-612): connections each broker
accepts per second from one address, an integer; the default applies to
every address without its own. A connection past it is held unread for
up to a second and closed.
`

// configRow is one config as describe prints it.
type configRow struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// configsCmd reads and changes topic and broker configs, like
// kafka-configs.sh.
func configsCmd(args []string, s *stdio) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, configsUsage)
		return usagef("missing action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(s.out, configsUsage)
		return nil
	}
	action := args[0]
	if action != "describe" && action != "alter" {
		fmt.Fprint(s.err, configsUsage)
		return usagef("unknown action %q", action)
	}
	fs := flag.NewFlagSet("configs "+action, flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	var ents entityFlags
	fs.Var(entityTypeFlag{&ents}, "entity-type", "topics, brokers, groups, users, clients or ips (users and clients: repeatable)")
	fs.Var(entityNameFlag{&ents}, "entity-name", "the topic name, broker id, group, user, client id or IP address")
	fs.Var(entityDefaultFlag{&ents}, "entity-default", "users, clients and ips: the default user, client id or IP address")
	all := fs.Bool("all", false, "describe: every config, not only those set away from the default")
	adds := fs.String("add-config", "", "alter: configs to set, k=v,k2=v2 (a list value in brackets: k=[a,b])")
	dels := fs.String("delete-config", "", "alter: configs to return to their default, k,k2")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if err := ents.check(action); err != nil {
		return err
	}
	if ents.quotas() {
		return quotasCmd(action, ents, cf, *adds, *dels, s)
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
	res := configResource{cl: cl, adm: kadm.NewClient(cl), kind: ents[0].kind, name: ents[0].name, def: ents[0].def}
	if action == "describe" {
		rows, err := res.describe(ctx, *all)
		if err != nil {
			return cf.explain(err)
		}
		return printConfigs(s, f, res, rows)
	}
	alters, err := parseAlters(*adds, *dels)
	if err != nil {
		return err
	}
	if err := res.alter(ctx, alters); err != nil {
		return cf.explain(err)
	}
	rows, err := res.describe(ctx, false)
	if err != nil {
		return cf.explain(err)
	}
	fmt.Fprintf(s.err, "altered %s %s: %d changes\n", strings.TrimSuffix(res.kind, "s"), res.label(), len(alters))
	return printConfigs(s, f, res, rows)
}

func printConfigs(s *stdio, f cli.Format, res configResource, rows []configRow) error {
	g := &cli.Grid{Header: []string{"NAME", "VALUE", "SOURCE"}}
	for _, r := range rows {
		g.Add(r.Name, r.Value, r.Source)
	}
	doc := map[string]any{"entity_type": res.kind, "entity_name": res.label(), "configs": rows}
	return cli.Print(s.out, f, doc, g)
}

// configResource is one topic, broker or group whose configs are read or
// changed.
type configResource struct {
	cl   *kgo.Client // for group configs, which kadm has no calls for
	adm  *kadm.Client
	kind string // topics, brokers or groups
	name string
	def  bool // the brokers' default entity: the cluster-wide dynamic configs
}

// label names the resource in messages.
func (r configResource) label() string {
	if r.def {
		return "<default>"
	}
	return r.name
}

// brokers are the broker ids kadm's broker config calls take: none for
// the default entity.
func (r configResource) brokers() ([]int32, error) {
	if r.def {
		return nil, nil
	}
	id, err := r.broker()
	return []int32{id}, err
}

func (r configResource) broker() (int32, error) {
	id, err := strconv.ParseInt(r.name, 10, 32)
	if err != nil {
		return 0, usagef("--entity-name %q: a broker is named by its id (`longboat cluster status` lists them)", r.name)
	}
	return int32(id), nil
}

// describe lists the resource's configs, sorted by name; without all only
// those whose source is not the default.
func (r configResource) describe(ctx context.Context, all bool) ([]configRow, error) {
	var rcs kadm.ResourceConfigs
	var err error
	switch r.kind {
	case "topics":
		rcs, err = r.adm.DescribeTopicConfigs(ctx, r.name)
	case "groups":
		rcs, err = r.describeGroup(ctx)
	default:
		var ids []int32
		if ids, err = r.brokers(); err != nil {
			return nil, err
		}
		rcs, err = r.adm.DescribeBrokerConfigs(ctx, ids...)
	}
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(r.name, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.kind, r.label(), err)
	}
	if rc.Err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.kind, r.label(), withMessage(rc.Err, rc.ErrMessage))
	}
	rows := []configRow{}
	for _, c := range rc.Configs {
		if !all && c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		rows = append(rows, configRow{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	return rows, nil
}

func (r configResource) alter(ctx context.Context, alters []kadm.AlterConfig) error {
	var resp kadm.AlterConfigsResponses
	var err error
	switch r.kind {
	case "topics":
		resp, err = r.adm.AlterTopicConfigs(ctx, alters, r.name)
	case "groups":
		resp, err = r.alterGroup(ctx, alters)
	default:
		var ids []int32
		if ids, err = r.brokers(); err != nil {
			return err
		}
		resp, err = r.adm.AlterBrokerConfigs(ctx, alters, ids...)
	}
	if err != nil {
		return err
	}
	for _, a := range resp {
		if a.Err != nil {
			return fmt.Errorf("%s %s: %w", r.kind, r.label(), withMessage(a.Err, a.ErrMessage))
		}
	}
	return nil
}

// parseAlters turns --add-config and --delete-config into incremental
// changes.
func parseAlters(adds, dels string) ([]kadm.AlterConfig, error) {
	var out []kadm.AlterConfig
	for _, kv := range splitConfigs(adds) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--add-config %q: want key=value", kv)
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
		out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range splitConfigs(dels) {
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(out) == 0 {
		return nil, usagef("nothing to change: give --add-config or --delete-config")
	}
	return out, nil
}

// splitConfigs splits "a=1,b=[x,y]" at the commas outside brackets, as
// kafka-configs.sh does.
func splitConfigs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	out = append(out, s[start:])
	kept := out[:0]
	for _, p := range out {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return kept
}

// defaultAdminTimeout bounds a metadata or admin command.
const defaultAdminTimeout = 30 * time.Second

// describeGroup is DescribeConfigs on a group (Kafka 4.0's GROUP config
// resource), in kadm's form.
func (r configResource) describeGroup(ctx context.Context) (kadm.ResourceConfigs, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, r.name
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return nil, err
	}
	var out kadm.ResourceConfigs
	for _, res := range resp.Resources {
		rc := kadm.ResourceConfig{Name: res.ResourceName, Err: kerr.ErrorForCode(res.ErrorCode)}
		if res.ErrorMessage != nil {
			rc.ErrMessage = *res.ErrorMessage
		}
		for _, c := range res.Configs {
			rc.Configs = append(rc.Configs, kadm.Config{Key: c.Name, Value: c.Value, Source: c.Source, Sensitive: c.IsSensitive})
		}
		out = append(out, rc)
	}
	return out, nil
}

// alterGroup is IncrementalAlterConfigs on a group, in kadm's form.
func (r configResource) alterGroup(ctx context.Context, alters []kadm.AlterConfig) (kadm.AlterConfigsResponses, error) {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, r.name
	for _, a := range alters {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = a.Name, a.Value, kmsg.IncrementalAlterConfigOpSet
		if a.Op == kadm.DeleteConfig {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return nil, err
	}
	var out kadm.AlterConfigsResponses
	for _, res := range resp.Resources {
		a := kadm.AlterConfigsResponse{Name: res.ResourceName, Err: kerr.ErrorForCode(res.ErrorCode)}
		if res.ErrorMessage != nil {
			a.ErrMessage = *res.ErrorMessage
		}
		out = append(out, a)
	}
	return out, nil
}
