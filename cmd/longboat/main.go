// Command longboat is the Longboat broker and its tools, one binary with
// subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/longboat/longboat/internal/version"
)

const usage = `longboat: a Kafka-compatible broker on multi-Raft

Usage:
  longboat serve [flags]   run one broker (flags or LONGBOAT_* variables; --help lists them)
  longboat dev [flags]     run a local cluster of brokers on 127.0.0.1 (--help lists flags)
  longboat healthcheck     exit 0 when this broker's /readyz answers 200, else 1
  longboat topics ACTION   list, create, describe or delete topics (kafka-topics.sh-like)
  longboat produce [flags] write N numbered records (<prefix>-<seq>) and report acknowledgements
  longboat consume [flags] read a topic from the start; --prefix/--expect checks every record once
  longboat bench [flags]   produce (and consume) load and print throughput and latency
  longboat version         print the version, the commit it was built from and the Go version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "dev":
		err = dev(os.Args[2:])
	case "healthcheck":
		err = healthcheck(os.Args[2:])
	case "topics":
		err = topicsCmd(os.Args[2:])
	case "produce":
		err = produceCmd(os.Args[2:])
	case "consume":
		err = consumeCmd(os.Args[2:])
	case "bench":
		err = benchCmd(os.Args[2:])
	case "version":
		fmt.Println(version.String())
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "longboat %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// clientContext bounds a client subcommand: it ends on Ctrl-C or after
// timeout, whichever comes first.
func clientContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

// parseFlags parses a subcommand's flags; done is true when the subcommand
// should return err at once (a bad flag, or nil after --help).
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	return err != nil, err
}
