package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/longboat/longboat/internal/cli"
)

// entity is one --entity-type with its --entity-name or --entity-default.
type entity struct {
	kind       string
	name       string
	named, def bool
}

// entityFlags are the entities of a configs command line, in order: the
// flags below append to and complete them as flag parses them.
type entityFlags []entity

type entityTypeFlag struct{ e *entityFlags }

func (f entityTypeFlag) String() string { return "" }
func (f entityTypeFlag) Set(v string) error {
	*f.e = append(*f.e, entity{kind: v})
	return nil
}

type entityNameFlag struct{ e *entityFlags }

func (f entityNameFlag) String() string { return "" }
func (f entityNameFlag) Set(v string) error {
	last, err := f.e.open("--entity-name")
	if err == nil {
		last.name, last.named = v, true
	}
	return err
}

type entityDefaultFlag struct{ e *entityFlags }

func (f entityDefaultFlag) String() string   { return "" }
func (f entityDefaultFlag) IsBoolFlag() bool { return true }
func (f entityDefaultFlag) Set(string) error {
	last, err := f.e.open("--entity-default")
	if err == nil {
		last.def = true
	}
	return err
}

// open returns the last entity, which must not be named yet.
func (e entityFlags) open(flag string) (*entity, error) {
	if len(e) == 0 || e[len(e)-1].named || e[len(e)-1].def {
		return nil, fmt.Errorf("%s must follow its --entity-type", flag)
	}
	return &e[len(e)-1], nil
}

// quotaTypes maps the command's entity types to Kafka's quota entity types.
var quotaTypes = map[string]string{"users": "user", "clients": "client-id", "ips": "ip"}

func (e entityFlags) quotas() bool {
	_, ok := quotaTypes[e[0].kind]
	return ok
}

// check validates the entities for an action.
func (e entityFlags) check(action string) error {
	if len(e) == 0 {
		return usagef("--entity-type is required: topics, brokers, groups, users, clients or ips")
	}
	seen := map[string]bool{}
	for _, en := range e {
		_, quota := quotaTypes[en.kind]
		switch {
		case en.kind != "topics" && en.kind != "brokers" && en.kind != "groups" && !quota:
			return usagef("--entity-type %q: use topics, brokers, groups, users, clients or ips", en.kind)
		case (!quota || en.kind == "ips") && len(e) > 1:
			return usagef("--entity-type %s takes one entity", en.kind)
		case (en.kind == "topics" || en.kind == "groups") && !en.named:
			return usagef("--entity-name is required")
		case en.kind == "brokers" && !en.named && !en.def:
			return usagef("--entity-type brokers: give --entity-name ID or --entity-default (the cluster-wide dynamic configs)")
		case seen[en.kind]:
			return usagef("--entity-type %s given twice", en.kind)
		case action == "alter" && !en.named && !en.def:
			return usagef("--entity-type %s: give its --entity-name or --entity-default", en.kind)
		}
		seen[en.kind] = true
	}
	return nil
}

// quotaRow is one quota value as configs describe prints it.
type quotaRow struct {
	Entity string  `json:"entity"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
}

// quotasCmd reads and changes client quotas: the configs of users,
// clients and ips.
func quotasCmd(action string, ents entityFlags, cf *clientFlags, adds, dels string, s *stdio) error {
	var ops []kadm.AlterClientQuotaOp
	if action == "alter" {
		for _, kv := range splitConfigs(adds) {
			k, v, ok := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			if !ok || k == "" || err != nil {
				return usagef("--add-config %q: want quota=number, e.g. producer_byte_rate=1048576 (bytes per second)", kv)
			}
			ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: f})
		}
		for _, k := range splitConfigs(dels) {
			ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
		}
		if len(ops) == 0 {
			return usagef("nothing to change: give --add-config or --delete-config")
		}
	}
	ctx, adm, f, done, err := cf.admin()
	if err != nil {
		return err
	}
	defer done()
	var entity kadm.ClientQuotaEntity
	var filter []kadm.DescribeClientQuotaComponent
	for _, en := range ents {
		c := kadm.DescribeClientQuotaComponent{Type: quotaTypes[en.kind], MatchType: 2}
		switch {
		case en.named:
			name := en.name
			c.MatchName, c.MatchType = &name, 0
			entity = append(entity, kadm.ClientQuotaEntityComponent{Type: c.Type, Name: &name})
		case en.def:
			c.MatchType = 1
			entity = append(entity, kadm.ClientQuotaEntityComponent{Type: c.Type})
		}
		filter = append(filter, c)
	}
	if action == "alter" {
		altered, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}})
		if err == nil && len(altered) == 1 {
			err = withMessage(altered[0].Err, altered[0].ErrMessage)
		}
		if err != nil {
			return cf.explain(fmt.Errorf("%s: %w", entity, err))
		}
		fmt.Fprintf(s.err, "altered quotas of %s: %d changes\n", entity, len(ops))
	}
	return describeQuotas(ctx, adm, filter, f, s)
}

func describeQuotas(ctx context.Context, adm *kadm.Client, filter []kadm.DescribeClientQuotaComponent, f cli.Format, s *stdio) error {
	described, err := adm.DescribeClientQuotas(ctx, true, filter)
	if err != nil {
		return err
	}
	slices.SortFunc(described, func(a, b kadm.DescribedClientQuota) int { return strings.Compare(a.Entity.String(), b.Entity.String()) })
	rows := []quotaRow{}
	g := &cli.Grid{Header: []string{"ENTITY", "NAME", "VALUE"}}
	for _, q := range described {
		for _, v := range q.Values {
			rows = append(rows, quotaRow{q.Entity.String(), v.Key, v.Value})
			g.Add(q.Entity.String(), v.Key, strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
	}
	return cli.Print(s.out, f, map[string]any{"quotas": rows}, g)
}
