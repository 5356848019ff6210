package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/longboat/longboat/internal/cli"
	"github.com/longboat/longboat/internal/sasl"
)

const usersUsage = `Usage:
  longboat users create --user NAME (--password PW | --password-stdin) [--mechanism SCRAM-SHA-256,SCRAM-SHA-512] [--iterations 4096]
  longboat users list   [--user NAME]
  longboat users delete --user NAME [--mechanism M]

SCRAM credentials live in the cluster's metadata (salt, iterations and keys,
never the password); create also changes an existing user's password. The
brokers need ALTER (create, delete) or DESCRIBE (list) on the cluster for
the principal running the command when they run with --authorizer acl.
`

// userRow is one credential as users list prints it.
type userRow struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

var scramMechanisms = map[string]kadm.ScramMechanism{sasl.ScramSHA256: kadm.ScramSha256, sasl.ScramSHA512: kadm.ScramSha512}

func parseMechanisms(s string) ([]kadm.ScramMechanism, error) {
	var out []kadm.ScramMechanism
	for _, m := range strings.Split(s, ",") {
		km, ok := scramMechanisms[strings.ToUpper(strings.TrimSpace(m))]
		if !ok {
			return nil, usagef("--mechanism %q: use SCRAM-SHA-256 and/or SCRAM-SHA-512", m)
		}
		out = append(out, km)
	}
	return out, nil
}

// usersCmd manages SCRAM users, like kafka-configs.sh --entity-type users.
func usersCmd(args []string, s *stdio) error {
	if len(args) == 0 {
		fmt.Fprint(s.err, usersUsage)
		return usagef("missing action")
	}
	if isHelp(args[0]) {
		fmt.Fprint(s.out, usersUsage)
		return nil
	}
	action := args[0]
	if action != "create" && action != "list" && action != "delete" {
		fmt.Fprint(s.err, usersUsage)
		return usagef("unknown action %q", action)
	}
	fs := flag.NewFlagSet("users "+action, flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	user := fs.String("user", "", "the user name (its principal is User:NAME)")
	defaultMechs := "SCRAM-SHA-256,SCRAM-SHA-512"
	if action == "delete" {
		defaultMechs = "" // every mechanism the user has
	}
	mechs := fs.String("mechanism", defaultMechs, "SCRAM mechanisms, comma-separated")
	password := fs.String("password", "", "create: the password (visible to ps: prefer --password-stdin)")
	passwordStdin := fs.Bool("password-stdin", false, "create: read the password from the first line of stdin")
	iterations := fs.Int("iterations", sasl.MinIterations, fmt.Sprintf("create: SCRAM iterations, %d..%d", sasl.MinIterations, sasl.MaxIterations))
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if *user == "" && action != "list" {
		return usagef("--user is required")
	}
	var mechanisms []kadm.ScramMechanism
	if *mechs != "" {
		var err error
		if mechanisms, err = parseMechanisms(*mechs); err != nil {
			return err
		}
	}
	if action == "create" {
		if *passwordStdin {
			line, err := bufio.NewReader(s.in).ReadString('\n')
			if err != nil && line == "" {
				return usagef("--password-stdin: no password on stdin")
			}
			*password = strings.TrimRight(line, "\r\n")
		}
		if *password == "" {
			return usagef("users create: give --password or --password-stdin")
		}
		if *iterations < sasl.MinIterations || *iterations > sasl.MaxIterations {
			return usagef("--iterations %d: use %d..%d", *iterations, sasl.MinIterations, sasl.MaxIterations)
		}
	}
	ctx, adm, f, done, err := cf.admin()
	if err != nil {
		return err
	}
	defer done()
	explain := func(err error) error {
		if errors.Is(err, kerr.ClusterAuthorizationFailed) {
			err = fmt.Errorf("%w (the principal needs ALTER or DESCRIBE on the cluster, or to be in --super-users)", err)
		}
		return cf.explain(err)
	}
	switch action {
	case "list":
		var users []string
		if *user != "" {
			users = []string{*user}
		}
		described, err := adm.DescribeUserSCRAMs(ctx, users...)
		if err == nil {
			err = described.Error()
		}
		if err != nil {
			return explain(err)
		}
		rows := []userRow{}
		g := &cli.Grid{Header: []string{"USER", "MECHANISM", "ITERATIONS"}}
		for _, d := range described.Sorted() {
			slices.SortFunc(d.CredInfos, func(a, b kadm.CredInfo) int { return cmp.Compare(a.Mechanism, b.Mechanism) })
			for _, ci := range d.CredInfos {
				rows = append(rows, userRow{d.User, ci.Mechanism.String(), ci.Iterations})
				g.Add(d.User, ci.Mechanism.String(), fmt.Sprint(ci.Iterations))
			}
		}
		return cli.Print(s.out, f, map[string]any{"users": rows}, g)
	case "create":
		var ups []kadm.UpsertSCRAM
		for _, m := range mechanisms {
			ups = append(ups, kadm.UpsertSCRAM{User: *user, Mechanism: m, Iterations: int32(*iterations), Password: *password})
		}
		altered, err := adm.AlterUserSCRAMs(ctx, nil, ups)
		if err == nil {
			err = altered.Error()
		}
		if err != nil {
			return explain(err)
		}
		return printDone(s, f, map[string]any{"user": *user, "mechanisms": len(ups)}, "created user %s: %d SCRAM credentials", *user, len(ups))
	default:
		if mechanisms == nil {
			described, err := adm.DescribeUserSCRAMs(ctx, *user)
			if err == nil {
				err = described.Error()
			}
			if err != nil {
				return explain(err)
			}
			for _, ci := range described[*user].CredInfos {
				mechanisms = append(mechanisms, ci.Mechanism)
			}
		}
		var dels []kadm.DeleteSCRAM
		for _, m := range mechanisms {
			dels = append(dels, kadm.DeleteSCRAM{User: *user, Mechanism: m})
		}
		altered, err := adm.AlterUserSCRAMs(ctx, dels, nil)
		if err == nil {
			err = altered.Error()
		}
		if err != nil {
			return explain(err)
		}
		return printDone(s, f, map[string]any{"user": *user, "mechanisms": len(dels)}, "deleted user %s: %d SCRAM credentials", *user, len(dels))
	}
}
