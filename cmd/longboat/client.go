package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/longboat/longboat/internal/cli"
)

// clientFlags are the flags every Kafka client command shares.
type clientFlags struct {
	bootstrap     string
	output        string
	timeout       time.Duration
	commandConfig string
}

func addClientFlags(fs *flag.FlagSet, timeout time.Duration) *clientFlags {
	c := &clientFlags{}
	const def = "localhost:9092"
	fs.StringVar(&c.bootstrap, "bootstrap-server", def, "comma-separated host:port of brokers to start from")
	fs.StringVar(&c.bootstrap, "brokers", def, "alias of --bootstrap-server")
	fs.StringVar(&c.output, "output", "table", "table (aligned columns) or json")
	fs.DurationVar(&c.timeout, "timeout", timeout, "give up after this long")
	fs.StringVar(&c.commandConfig, "command-config", "", "Kafka client properties file for TLS and SASL (security.protocol, ssl.ca.location, ssl.certificate.location, ssl.key.location, sasl.mechanism, sasl.username, sasl.password or sasl.jaas.config)")
	return c
}

func (c *clientFlags) seeds() []string { return strings.Split(c.bootstrap, ",") }

// clientOpts are the seed brokers and what --command-config asks for.
func (c *clientFlags) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.seeds()...)}
	if c.commandConfig == "" {
		return opts, nil
	}
	sec, err := c.securityOpts()
	if err != nil {
		return nil, err
	}
	return append(opts, sec...), nil
}

// securityOpts are the TLS and SASL options of --command-config.
func (c *clientFlags) securityOpts() ([]kgo.Opt, error) {
	cc, err := readCommandConfig(c.commandConfig)
	if err != nil {
		return nil, usageError{err}
	}
	sec, err := cc.opts()
	if err != nil {
		return nil, usagef("--command-config %s: %w", c.commandConfig, err)
	}
	return sec, nil
}

func (c *clientFlags) format() (cli.Format, error) {
	f, err := cli.ParseFormat(c.output)
	if err != nil {
		return "", usageError{err}
	}
	return f, nil
}

// admin checks --output, and opens a kadm client on the bootstrap servers
// and a context bounded by --timeout; done releases both.
func (c *clientFlags) admin() (context.Context, *kadm.Client, cli.Format, func(), error) {
	f, err := c.format()
	if err != nil {
		return nil, nil, "", nil, err
	}
	ctx, cl, done, err := c.client()
	if err != nil {
		return nil, nil, "", nil, err
	}
	return ctx, kadm.NewClient(cl), f, done, nil
}

// client opens a client on the bootstrap servers and a context bounded by
// --timeout; done releases both.
func (c *clientFlags) client() (context.Context, *kgo.Client, func(), error) {
	opts, err := c.clientOpts()
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(c.timeout))...)
	if err != nil {
		return nil, nil, nil, usagef("--bootstrap-server %q: %w", c.bootstrap, err)
	}
	ctx, cancel := clientContext(c.timeout)
	return ctx, cl, func() { cancel(); cl.Close() }, nil
}

// printDone prints doc for --output json, else one line of text.
func printDone(s *stdio, f cli.Format, doc any, format string, a ...any) error {
	if f == cli.JSON {
		return cli.Print(s.out, f, doc)
	}
	_, err := fmt.Fprintf(s.out, format+"\n", a...)
	return err
}

// explain adds what to do to the errors an operator meets most.
func (c *clientFlags) explain(err error) error {
	var op *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &op):
		return fmt.Errorf("cannot reach %s: %w (is a broker running there? set --bootstrap-server)", c.bootstrap, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from %s within --timeout %s: %w", c.bootstrap, c.timeout, err)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%w (`longboat topics list` shows the topics)", err)
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("%w (`longboat topics describe` shows it)", err)
	}
	return err
}

// withMessage joins a Kafka error with the broker's message about it.
func withMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, msg)
}

// topicSel is a --topic value: a topic and optionally some of its
// partitions, "orders" or "orders:0,2,5".
type topicSel struct {
	Topic      string
	Partitions []int32 // nil: every partition
}

func parseTopicPartitions(s string) (topicSel, error) {
	name, parts, has := strings.Cut(s, ":")
	tp := topicSel{Topic: name}
	if name == "" {
		return tp, usagef("--topic %q: want TOPIC or TOPIC:P,P,...", s)
	}
	if !has {
		return tp, nil
	}
	for _, p := range strings.Split(parts, ",") {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return tp, usagef("--topic %q: partition %q is not a number", s, p)
		}
		tp.Partitions = append(tp.Partitions, int32(n))
	}
	return tp, nil
}

// resolve fills in every partition of each topic given without a list, and
// checks the listed ones exist.
func resolve(ctx context.Context, adm *kadm.Client, tps []topicSel) (kadm.TopicsSet, error) {
	names := make([]string, len(tps))
	for i, tp := range tps {
		names[i] = tp.Topic
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, err
	}
	set := kadm.TopicsSet{}
	for _, tp := range tps {
		td, ok := md.Topics[tp.Topic]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", tp.Topic, firstErr(td.Err, kerr.UnknownTopicOrPartition))
		}
		if tp.Partitions == nil {
			set.Add(tp.Topic, td.Partitions.Numbers()...)
			continue
		}
		for _, p := range tp.Partitions {
			if _, ok := td.Partitions[p]; !ok {
				return nil, fmt.Errorf("topic %s has no partition %d (it has %d)", tp.Topic, p, len(td.Partitions))
			}
		}
		set.Add(tp.Topic, tp.Partitions...)
	}
	return set, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ids formats broker ids as "1,2,3".
func joinIDs(ns []int32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// errUnknownTopic is what a topic missing from a metadata answer means.
var errUnknownTopic = kerr.UnknownTopicOrPartition
