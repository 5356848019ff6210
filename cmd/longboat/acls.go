package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/cli"
)

const aclsUsage = `Usage:
  longboat acls create --principal User:NAME --operation OP[,OP] RESOURCE [--resource-pattern-type literal|prefixed] [--permission allow|deny] [--host IP]
  longboat acls list   [--principal User:NAME] [RESOURCE] [--resource-pattern-type any|match|literal|prefixed] [--operation OP] [--permission allow|deny]
  longboat acls delete (--principal User:NAME and/or RESOURCE) [--resource-pattern-type ...] [--operation OP] [--permission allow|deny] [--host IP]

RESOURCE is one of --topic NAME, --group NAME, --transactional-id NAME or --cluster.
Operations: Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs,
AlterConfigs, IdempotentWrite, All. The broker must run with --authorizer acl for ACLs to
be enforced; changing them needs ALTER on the cluster (a --super-users principal at first).
`

// aclRow is one ACL as list, create and delete print it.
type aclRow struct {
	ResourceType string `json:"resource_type"`
	Name         string `json:"resource_name"`
	Pattern      string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

func rowOf(b acl.Binding) aclRow {
	return aclRow{b.ResourceType.String(), b.Name, b.Pattern.String(), b.Principal, b.Host, b.Operation.String(), b.Permission.String()}
}

// aclFlags are the flags naming ACLs or a filter over them.
type aclFlags struct {
	principal, host, operation, permission, pattern string
	topic, group, txnID                             string
	cluster                                         bool
}

func (f *aclFlags) register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.principal, "principal", "", "the principal, e.g. User:alice (User:* for every user)")
	fs.StringVar(&f.operation, "operation", "", "operations, comma-separated (create: required; list, delete: one, default any)")
	fs.StringVar(&f.topic, "topic", "", "a topic (name or prefix)")
	fs.StringVar(&f.group, "group", "", "a consumer group (name or prefix)")
	fs.StringVar(&f.txnID, "transactional-id", "", "a transactional id (name or prefix)")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster")
	if create {
		fs.StringVar(&f.host, "host", acl.Wildcard, "the client IP address the ACL applies to (* for every host)")
		fs.StringVar(&f.permission, "permission", "allow", "allow or deny")
		fs.StringVar(&f.pattern, "resource-pattern-type", "literal", "literal (the name, or * for every name) or prefixed (every name starting with it)")
		return
	}
	fs.StringVar(&f.host, "host", "", "only ACLs for this host (default any)")
	fs.StringVar(&f.permission, "permission", "any", "allow, deny or any")
	fs.StringVar(&f.pattern, "resource-pattern-type", "any", "any, match (every ACL that applies to the named resource), literal or prefixed")
}

// resource returns the resource the flags name; ok is false when none is.
func (f *aclFlags) resource() (rt acl.ResourceType, name string, ok bool, err error) {
	n := 0
	for _, r := range []struct {
		set  bool
		rt   acl.ResourceType
		name string
	}{{f.topic != "", acl.ResourceTopic, f.topic}, {f.group != "", acl.ResourceGroup, f.group},
		{f.txnID != "", acl.ResourceTransactionalID, f.txnID}, {f.cluster, acl.ResourceCluster, acl.ClusterName}} {
		if r.set {
			n++
			rt, name = r.rt, r.name
		}
	}
	if n > 1 {
		return 0, "", false, usagef("name one resource: --topic, --group, --transactional-id or --cluster")
	}
	return rt, name, n == 1, nil
}

// bindings are the ACLs acls create makes: one per operation.
func (f *aclFlags) bindings() ([]acl.Binding, error) {
	rt, name, ok, err := f.resource()
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, usagef("name the resource: --topic, --group, --transactional-id or --cluster")
	case f.principal == "":
		return nil, usagef("--principal is required (e.g. User:alice)")
	case f.operation == "":
		return nil, usagef("--operation is required (e.g. Read,Write)")
	}
	pt, err := acl.ParsePatternType(f.pattern)
	if err != nil {
		return nil, usageError{err}
	}
	perm, err := acl.ParsePermission(f.permission)
	if err != nil {
		return nil, usageError{err}
	}
	var out []acl.Binding
	for _, o := range strings.Split(f.operation, ",") {
		op, err := acl.ParseOperation(o)
		if err != nil {
			return nil, usageError{err}
		}
		b := acl.Binding{ResourceType: rt, Name: name, Pattern: pt, Principal: f.principal, Host: f.host, Operation: op, Permission: perm}
		if err := b.Validate(); err != nil {
			return nil, usageError{err}
		}
		out = append(out, b)
	}
	return out, nil
}

// filter is the filter acls list and delete send.
func (f *aclFlags) filter() (acl.Filter, error) {
	rt, name, ok, err := f.resource()
	if err != nil {
		return acl.Filter{}, err
	}
	out := acl.Filter{ResourceType: acl.ResourceAny, Operation: acl.OpAny}
	if ok {
		out.ResourceType, out.Name = rt, &name
	}
	if f.principal != "" {
		out.Principal = &f.principal
	}
	if f.host != "" {
		out.Host = &f.host
	}
	if out.Pattern, err = acl.ParsePatternType(f.pattern); err != nil {
		return out, usageError{err}
	}
	if out.Permission, err = acl.ParsePermission(f.permission); err != nil {
		return out, usageError{err}
	}
	if f.operation != "" {
		if out.Operation, err = acl.ParseOperation(f.operation); err != nil {
			return out, usageError{err}
		}
	}
	return out, out.Validate()
}

// aclsCmd manages ACLs, like kafka-acls.sh.
func aclsCmd(args []string, s *stdio) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, aclsUsage)
		return usagef("missing action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(s.out, aclsUsage)
		return nil
	}
	action := args[0]
	if action != "create" && action != "list" && action != "delete" {
		fmt.Fprint(s.err, aclsUsage)
		return usagef("unknown action %q", action)
	}
	fs := flag.NewFlagSet("acls "+action, flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	var af aclFlags
	af.register(fs, action == "create")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	var req kmsg.Request
	switch action {
	case "create":
		bs, err := af.bindings()
		if err != nil {
			return err
		}
		req = createACLsRequest(bs)
	default:
		f, err := af.filter()
		if err != nil {
			return usageError{err}
		}
		if _, _, named, _ := af.resource(); action == "delete" && !named && af.principal == "" {
			return usagef("acls delete: name a resource or a --principal (deleting every ACL at once is refused)")
		}
		req = filterRequest(action, f)
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
	rows, err := aclRequest(ctx, cl, req)
	if err != nil {
		return cf.explain(err)
	}
	if action != "list" {
		verb := map[string]string{"create": "created", "delete": "deleted"}[action]
		fmt.Fprintf(s.err, "%s %d ACLs\n", verb, len(rows))
	}
	g := &cli.Grid{Header: []string{"RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"}}
	for _, r := range rows {
		g.Add(r.ResourceType, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission)
	}
	return cli.Print(s.out, f, map[string]any{"acls": rows}, g)
}

func createACLsRequest(bs []acl.Binding) *kmsg.CreateACLsRequest {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.Name, kmsg.ACLResourcePatternType(b.Pattern)
		c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		req.Creations = append(req.Creations, c)
	}
	return req
}

func filterRequest(action string, f acl.Filter) kmsg.Request {
	if action == "list" {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourceName, req.ResourcePatternType = kmsg.ACLResourceType(f.ResourceType), f.Name, kmsg.ACLResourcePatternType(f.Pattern)
		req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, kmsg.ACLOperation(f.Operation), kmsg.ACLPermissionType(f.Permission)
		return req
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.ResourceName, df.ResourcePatternType = kmsg.ACLResourceType(f.ResourceType), f.Name, kmsg.ACLResourcePatternType(f.Pattern)
	df.Principal, df.Host, df.Operation, df.PermissionType = f.Principal, f.Host, kmsg.ACLOperation(f.Operation), kmsg.ACLPermissionType(f.Permission)
	req.Filters = append(req.Filters, df)
	return req
}

// aclRequest sends one ACL request and returns the ACLs it created, listed
// or deleted, or the first error the broker answered.
func aclRequest(ctx context.Context, cl *kgo.Client, req kmsg.Request) ([]aclRow, error) {
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	rows := []aclRow{}
	fail := func(code int16, msg *string) error {
		err := kerr.ErrorForCode(code)
		if msg != nil {
			err = withMessage(err, *msg)
		}
		if errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.SecurityDisabled) {
			err = fmt.Errorf("%w (ACLs are changed and listed by principals with ALTER or DESCRIBE on the cluster, or --super-users)", err)
		}
		return err
	}
	switch resp := kresp.(type) {
	case *kmsg.CreateACLsResponse:
		c := req.(*kmsg.CreateACLsRequest)
		for i, r := range resp.Results {
			if r.ErrorCode != 0 {
				return nil, fail(r.ErrorCode, r.ErrorMessage)
			}
			x := c.Creations[i]
			rows = append(rows, rowOf(acl.Binding{ResourceType: acl.ResourceType(x.ResourceType), Name: x.ResourceName, Pattern: acl.PatternType(x.ResourcePatternType),
				Principal: x.Principal, Host: x.Host, Operation: acl.Operation(x.Operation), Permission: acl.Permission(x.PermissionType)}))
		}
	case *kmsg.DescribeACLsResponse:
		if resp.ErrorCode != 0 {
			return nil, fail(resp.ErrorCode, resp.ErrorMessage)
		}
		for _, r := range resp.Resources {
			for _, a := range r.ACLs {
				rows = append(rows, rowOf(acl.Binding{ResourceType: acl.ResourceType(r.ResourceType), Name: r.ResourceName, Pattern: acl.PatternType(r.ResourcePatternType),
					Principal: a.Principal, Host: a.Host, Operation: acl.Operation(a.Operation), Permission: acl.Permission(a.PermissionType)}))
			}
		}
	case *kmsg.DeleteACLsResponse:
		for _, r := range resp.Results {
			if r.ErrorCode != 0 {
				return nil, fail(r.ErrorCode, r.ErrorMessage)
			}
			for _, m := range r.MatchingACLs {
				rows = append(rows, rowOf(acl.Binding{ResourceType: acl.ResourceType(m.ResourceType), Name: m.ResourceName, Pattern: acl.PatternType(m.ResourcePatternType),
					Principal: m.Principal, Host: m.Host, Operation: acl.Operation(m.Operation), Permission: acl.Permission(m.PermissionType)}))
			}
		}
	}
	return rows, nil
}
