// Command longboat is the Longboat broker and its tools, one binary with
// subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/longboat/longboat/internal/version"
)

const usage = `longboat: a Kafka-compatible broker on multi-Raft

Usage:
  longboat serve [flags]    run one broker (flags or LONGBOAT_* variables; --help lists them)
  longboat dev [flags]      run a local cluster of brokers on 127.0.0.1 (--help lists flags)
  longboat healthcheck      exit 0 when this broker's /readyz answers 200, else 1
  longboat topics ACTION    list, describe, create, delete, alter-config, add-partitions, delete-records, reassign
  longboat groups ACTION    list, describe (members, offsets, lag), reset-offsets, delete, delete-offsets
  longboat configs ACTION   describe or alter topic and broker configs, and client quotas
  longboat cluster status   brokers, the __meta leader, partitions per broker, unhealthy partitions, moves in flight
  longboat acls ACTION      create, list, delete ACLs (brokers with --authorizer acl enforce them)
  longboat users ACTION     create, list, delete SCRAM users (SCRAM-SHA-256 and SCRAM-SHA-512 credentials)
  longboat produce [flags]  write stdin lines as records (--records N: numbered test records)
  longboat consume [flags]  print records with a kcat-style --format (--prefix/--expect: check numbered records)
  longboat bench [flags]    produce (and consume) load and print throughput and latency
  longboat version          print the version, the commit it was built from and the Go version

Client commands take --bootstrap-server host:port,... (alias --brokers, default localhost:9092)
and --output table|json. Exit status: 0 success, 1 failure, 2 bad usage.
`

// stdio is where a client command reads and writes, so tests can run the
// commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// run executes one command line and returns the process exit status.
func run(args []string, s *stdio) int {
	if len(args) == 0 {
		fmt.Fprint(s.err, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:])
	case "dev":
		err = dev(args[1:])
	case "healthcheck":
		err = healthcheck(args[1:])
	case "topics":
		err = topicsCmd(args[1:], s)
	case "groups":
		err = groupsCmd(args[1:], s)
	case "configs":
		err = configsCmd(args[1:], s)
	case "acls":
		err = aclsCmd(args[1:], s)
	case "users":
		err = usersCmd(args[1:], s)
	case "cluster":
		err = clusterCmd(args[1:], s)
	case "produce":
		err = produceCmd(args[1:], s)
	case "consume":
		err = consumeCmd(args[1:], s)
	case "bench":
		err = benchCmd(args[1:])
	case "version":
		fmt.Fprintln(s.out, version.String())
	default:
		if isHelp(args[0]) {
			fmt.Fprint(s.out, usage)
			return 0
		}
		fmt.Fprintf(s.err, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(s.err, "longboat %s: %v\n", args[0], err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// clientContext bounds a client subcommand: it ends on Ctrl-C, SIGTERM or
// after timeout (none when 0), whichever comes first, so that a group
// consumer commits and leaves its group however it is stopped.
func clientContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if timeout <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// parseFlags parses a subcommand's flags; done is true when the subcommand
// should return err at once (a bad flag, or nil after --help).
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err != nil {
		return true, usageError{err}
	}
	if fs.NArg() > 0 {
		return true, usagef("unexpected argument %q (flags go before it? see --help)", fs.Arg(0))
	}
	return false, nil
}
