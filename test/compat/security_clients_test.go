package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xdgscram "github.com/xdg-go/scram"
)

// The security matrix's drivers: franz-go and sarama in this process, kcat
// one process per command, the Java client in one JVM for all its cells,
// both Python libraries in one Python process. Cells run concurrently.

// secTLS is the Go clients' TLS configuration for a cell, nil without TLS.
func secTLS(c *secCell) (*tls.Config, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// goCells runs fn for every cell concurrently, at most 4 at a time: six
// drivers at once on two cores already starve TLS and SASL handshakes.
func goCells(ctx context.Context, cells []*secCell, fn func(ctx context.Context, c *secCell) secResult) map[string]secResult {
	out := map[string]secResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, c := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutMs)*time.Millisecond)
			defer cancel()
			began := time.Now()
			r := fn(cctx, c)
			r.ID, r.Ms = c.ID, time.Since(began).Milliseconds()
			mu.Lock()
			out[c.ID] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// goFailure turns a Go client's error into a result with the Kafka code it
// carries, if any.
func goFailure(err error) secResult {
	r := secResult{Code: -1, Name: fmt.Sprintf("%T", err), Error: err.Error()}
	var ke *kerr.Error
	var pe sarama.ProducerErrors
	if errors.As(err, &pe) && len(pe) > 0 {
		err = pe[0].Err
	}
	if errors.As(err, &ke) {
		r.Code, r.Name = int(ke.Code), ke.Message
		return r
	}
	// sarama wraps its KErrors where errors.As cannot see them; errors.Is
	// is how its users test for one.
	for _, code := range []int16{29, 30, 31, 53, 58} {
		if errors.Is(err, sarama.KError(code)) {
			r.Code, r.Name = int(code), kerr.TypedErrorForCode(code).Message
			return r
		}
	}
	return r
}

// secFranz drives franz-go (kgo, kadm).
type secFranz struct{}

func (d *secFranz) name() string    { return "franz-go" }
func (d *secFranz) version() string { return moduleVersion("github.com/twmb/franz-go") }

func (d *secFranz) run(ctx context.Context, cells []*secCell) map[string]secResult {
	return goCells(ctx, cells, d.cell)
}

func (d *secFranz) opts(c *secCell) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Bootstrap), kgo.ClientID(c.ClientID), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}
	cfg, err := secTLS(c)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	var m sasl.Mechanism
	switch c.Mechanism {
	case "PLAIN":
		m = plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		m = scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (d *secFranz) cell(ctx context.Context, c *secCell) secResult {
	opts, err := d.opts(c)
	if err != nil {
		return goFailure(err)
	}
	switch c.Kind {
	case "roundtrip", "reauth":
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.Topic: {0: kgo.NewOffset().AtStart()}}))
	case "deny_group":
		opts = append(opts, kgo.ConsumerGroup(c.Group), kgo.ConsumeTopics(c.Topic))
	case "deny_txn":
		opts = append(opts, kgo.TransactionalID(c.TxnID), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return goFailure(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, kv := range c.Records {
		recs = append(recs, &kgo.Record{Topic: c.Topic, Key: []byte(kv.K), Value: []byte(kv.V)})
	}
	switch c.Kind {
	case "roundtrip", "reauth":
		half := len(recs)
		if c.Kind == "reauth" {
			half = len(recs) / 2
		}
		if err := cl.ProduceSync(ctx, recs[:half]...).FirstErr(); err != nil {
			return goFailure(err)
		}
		if half < len(recs) {
			time.Sleep(time.Duration(c.PauseMs) * time.Millisecond)
			if err := cl.ProduceSync(ctx, recs[half:]...).FirstErr(); err != nil {
				return goFailure(err)
			}
		}
		var got []secKV
		for len(got) < len(c.Records) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return goFailure(fmt.Errorf("read back %d of %d records: %w", len(got), len(c.Records), ctx.Err()))
			}
			if err := fs.Err(); err != nil {
				return goFailure(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if strings.HasPrefix(string(r.Key), c.ID+"/") {
					got = append(got, secKV{K: string(r.Key), V: string(r.Value)})
				}
			})
		}
		return secResult{Records: got}
	case "auth_fail", "no_tls":
		_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err == nil {
			return secResult{}
		}
		return goFailure(err)
	case "deny_topic":
		return secDenied(cl.ProduceSync(ctx, recs...).FirstErr())
	case "deny_group":
		for {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				return goFailure(err)
			}
			if ctx.Err() != nil {
				return goFailure(fmt.Errorf("no error and no records: %w", ctx.Err()))
			}
		}
	case "deny_cluster":
		rcs, err := kadm.NewClient(cl).DescribeBrokerConfigs(ctx, 1)
		if err == nil && len(rcs) > 0 {
			err = rcs[0].Err
		}
		return secDenied(err)
	case "deny_txn":
		if err := cl.BeginTransaction(); err != nil {
			return goFailure(err)
		}
		for _, r := range recs {
			r.Partition = 0
		}
		return secDenied(cl.ProduceSync(ctx, recs...).FirstErr())
	}
	return goFailure(fmt.Errorf("unknown kind %s", c.Kind))
}

// secDenied is the result of an operation that should have been denied.
func secDenied(err error) secResult {
	if err == nil {
		return secResult{}
	}
	return goFailure(err)
}

// secSarama drives github.com/IBM/sarama at its default protocol version.
type secSarama struct{}

func (d *secSarama) name() string { return "sarama" }
func (d *secSarama) version() string {
	return fmt.Sprintf("%s, config Version %s", moduleVersion("github.com/IBM/sarama"), sarama.DefaultVersion)
}

func (d *secSarama) run(ctx context.Context, cells []*secCell) map[string]secResult {
	return goCells(ctx, cells, d.cell)
}

// saramaSCRAM is sarama's SCRAM client, on github.com/xdg-go/scram as
// sarama's documentation does it.
type saramaSCRAM struct {
	hash xdgscram.HashGeneratorFcn
	conv *xdgscram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	cl, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = cl.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

func (d *secSarama) config(c *secCell) (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = c.ClientID
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 5
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	tlsCfg, err := secTLS(c)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tlsCfg
	}
	if c.Mechanism != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(c.Mechanism)
		cfg.Net.SASL.User, cfg.Net.SASL.Password = c.User, c.Password
		switch c.Mechanism {
		case "SCRAM-SHA-256":
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: xdgscram.SHA256} }
		case "SCRAM-SHA-512":
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: xdgscram.SHA512} }
		}
	}
	return cfg, nil
}

func (d *secSarama) cell(ctx context.Context, c *secCell) secResult {
	cfg, err := d.config(c)
	if err != nil {
		return goFailure(err)
	}
	addrs := []string{c.Bootstrap}
	msgs := func(kvs []secKV) []*sarama.ProducerMessage {
		var out []*sarama.ProducerMessage
		for _, kv := range kvs {
			out = append(out, &sarama.ProducerMessage{Topic: c.Topic, Key: sarama.StringEncoder(kv.K), Value: sarama.StringEncoder(kv.V)})
		}
		return out
	}
	switch c.Kind {
	case "roundtrip", "reauth":
		p, err := sarama.NewSyncProducer(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		half := len(c.Records)
		if c.Kind == "reauth" {
			half /= 2
		}
		err = p.SendMessages(msgs(c.Records[:half]))
		if err == nil && half < len(c.Records) {
			time.Sleep(time.Duration(c.PauseMs) * time.Millisecond)
			err = p.SendMessages(msgs(c.Records[half:]))
		}
		p.Close()
		if err != nil {
			return goFailure(err)
		}
		cons, err := sarama.NewConsumer(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		defer cons.Close()
		pc, err := cons.ConsumePartition(c.Topic, 0, sarama.OffsetOldest)
		if err != nil {
			return goFailure(err)
		}
		defer pc.Close()
		var got []secKV
		for len(got) < len(c.Records) {
			select {
			case m := <-pc.Messages():
				if strings.HasPrefix(string(m.Key), c.ID+"/") {
					got = append(got, secKV{K: string(m.Key), V: string(m.Value)})
				}
			case e := <-pc.Errors():
				return goFailure(e)
			case <-ctx.Done():
				return goFailure(fmt.Errorf("read back %d of %d records: %w", len(got), len(c.Records), ctx.Err()))
			}
		}
		return secResult{Records: got}
	case "auth_fail", "no_tls":
		cl, err := sarama.NewClient(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		cl.Close()
		return secResult{}
	case "deny_topic":
		p, err := sarama.NewSyncProducer(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		defer p.Close()
		return secDenied(p.SendMessages(msgs(c.Records)))
	case "deny_group":
		cfg.Consumer.Group.Rebalance.Retry.Max = 0 // the denial is final
		g, err := sarama.NewConsumerGroup(addrs, c.Group, cfg)
		if err != nil {
			return goFailure(err)
		}
		defer g.Close()
		return secDenied(g.Consume(ctx, []string{c.Topic}, secNoClaims{}))
	case "deny_cluster":
		adm, err := sarama.NewClusterAdmin(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		defer adm.Close()
		res, err := adm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.BrokerResource, Name: "1"}}, sarama.DescribeConfigsOptions{})
		if err == nil && len(res) == 1 && res[0].ErrorCode != sarama.ErrNoError {
			err = res[0].ErrorCode
		}
		return secDenied(err)
	case "deny_txn":
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Transaction.ID = c.TxnID
		cfg.Producer.Transaction.Retry.Max = 1 // the denial is final
		p, err := sarama.NewSyncProducer(addrs, cfg)
		if err != nil {
			return goFailure(err)
		}
		p.Close()
		return secResult{}
	}
	return goFailure(fmt.Errorf("unknown kind %s", c.Kind))
}

// secNoClaims is a group handler for a member that must never be assigned.
type secNoClaims struct{}

func (secNoClaims) Setup(sarama.ConsumerGroupSession) error   { return errors.New("joined the group") }
func (secNoClaims) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (secNoClaims) ConsumeClaim(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error {
	return nil
}

// secKcat drives Debian's kcat (librdkafka): one process per command.
type secKcat struct {
	path, ver string
	modes     string // the modes kcat -h lists
}

func newSecKcat() (*secKcat, error) {
	p, err := exec.LookPath("kcat")
	if err != nil {
		return nil, errors.New("kcat not installed (apt-get install kcat)")
	}
	k := &secKcat{path: p, ver: "unknown"}
	out, _ := exec.Command(p, "-V").CombinedOutput()
	if m := regexp.MustCompile(`Version (\S+) .*librdkafka (\S+)`).FindSubmatch(out); m != nil {
		k.ver = fmt.Sprintf("kcat %s, librdkafka %s (Debian)", m[1], m[2])
	}
	// kcat -h lists its modes ("Mode: Consume, Produce, ..."): none of
	// them sends admin requests, which the cluster row needs.
	help, _ := exec.Command(p, "-h").CombinedOutput()
	var modes []string
	for _, line := range strings.Split(string(help), "\n") {
		if _, m, ok := strings.Cut(line, "Mode: "); ok {
			m, _, _ = strings.Cut(strings.TrimSuffix(strings.TrimSpace(m), " mode"), " (")
			modes = append(modes, m)
		}
	}
	k.modes = strings.Join(modes, ", ")
	return k, nil
}

func (d *secKcat) name() string    { return "kcat" }
func (d *secKcat) version() string { return d.ver }

func (d *secKcat) run(ctx context.Context, cells []*secCell) map[string]secResult {
	return goCells(ctx, cells, d.cell)
}

func (d *secKcat) args(c *secCell) []string {
	a := []string{"-b", c.Bootstrap, "-X", "client.id=" + c.ClientID, "-X", "security.protocol=" + c.Protocol, "-X", "reconnect.backoff.max.ms=200"}
	if c.Mechanism != "" {
		a = append(a, "-X", "sasl.mechanisms="+c.Mechanism, "-X", "sasl.username="+c.User, "-X", "sasl.password="+c.Password)
	}
	if c.CAFile != "" {
		a = append(a, "-X", "ssl.ca.location="+c.CAFile)
	}
	if c.CertFile != "" {
		a = append(a, "-X", "ssl.certificate.location="+c.CertFile, "-X", "ssl.key.location="+c.KeyFile)
	}
	return a
}

// kcatErrors maps librdkafka's error strings to Kafka's codes (broker
// errors) or librdkafka's own (negative).
var kcatErrors = []struct {
	text string
	code int
	name string
}{
	{"Broker: Topic authorization failed", 29, ""},
	{"Broker: Group authorization failed", 30, ""},
	{"Broker: Cluster authorization failed", 31, ""},
	{"Broker: Transactional Id authorization failed", 53, ""},
	{"Broker: SASL Authentication failed", 58, ""},
	{"SASL authentication error", -169, "_AUTHENTICATION"},
	{"Local: Broker transport failure", -195, "_TRANSPORT"},
	{"Local: All broker connections are down", -187, "_ALL_BROKERS_DOWN"},
}

// kcatFailure finds the most telling error in kcat's output.
func kcatFailure(err error, stderr string) secResult {
	for _, e := range kcatErrors {
		if strings.Contains(stderr, e.text) {
			return secResult{Code: e.code, Name: e.name, Error: tail(stderr, 600)}
		}
	}
	return secResult{Code: -1, Name: "kcat", Error: fmt.Sprintf("%v: %s", err, tail(stderr, 600))}
}

// kcatRun runs kcat, feeding stdin line groups with pause between them;
// until, if set, ends it once its stderr shows the text.
func (d *secKcat) kcatRun(ctx context.Context, c *secCell, stdin [][]byte, pause time.Duration, until *regexp.Regexp, extra ...string) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, d.path, append(d.args(c), extra...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stdout = &stdout
	var in io.WriteCloser
	var err error
	if stdin != nil {
		if in, err = cmd.StdinPipe(); err != nil {
			return nil, "", err
		}
	}
	var errPipe io.ReadCloser
	if errPipe, err = cmd.StderrPipe(); err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			fmt.Fprintln(stderr, sc.Text())
			if until != nil && until.MatchString(sc.Text()) {
				_ = cmd.Process.Kill() // kcat -L does not heed SIGINT while it waits for metadata
			}
		}
	}()
	if in != nil {
		for i, part := range stdin {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := in.Write(part); err != nil {
				break
			}
		}
		in.Close()
	}
	<-scanned
	err = cmd.Wait()
	return stdout.Bytes(), stderr.String(), err
}

func (d *secKcat) cell(ctx context.Context, c *secCell) secResult {
	lines := func(kvs []secKV) []byte {
		var b bytes.Buffer
		for _, kv := range kvs {
			fmt.Fprintf(&b, "%s\t%s\n", kv.K, kv.V)
		}
		return b.Bytes()
	}
	produce := []string{"-P", "-t", c.Topic, "-p", "0", "-K", "\t", "-X", "acks=all", "-m", "20"}
	// The delivery failure librdkafka reports for a denied request.
	denied := regexp.MustCompile(`authorization failed|Authorization failed`)
	switch c.Kind {
	case "roundtrip", "reauth":
		parts := [][]byte{lines(c.Records)}
		if c.Kind == "reauth" {
			half := len(c.Records) / 2
			parts = [][]byte{lines(c.Records[:half]), lines(c.Records[half:])}
		}
		// Delivery failures show in the read back; stderr also has
		// librdkafka's log of connections the broker closed.
		if _, stderr, err := d.kcatRun(ctx, c, parts, time.Duration(c.PauseMs)*time.Millisecond, nil, produce...); err != nil {
			return kcatFailure(err, stderr)
		}
		out, stderr, err := d.kcatRun(ctx, c, nil, 0, nil, "-C", "-t", c.Topic, "-p", "0", "-o", "beginning", "-e", "-J", "-m", "20")
		if err != nil {
			return kcatFailure(err, stderr)
		}
		recs, err := parseKcat(out)
		if err != nil {
			return kcatFailure(err, stderr)
		}
		var got []secKV
		for _, r := range recs {
			if strings.HasPrefix(string(r.Key), c.ID+"/") {
				got = append(got, secKV{K: string(r.Key), V: string(r.Value)})
			}
		}
		return secResult{Records: got}
	case "auth_fail", "no_tls":
		// librdkafka retries: stop kcat once it has said why it failed.
		why := regexp.MustCompile(`SASL authentication error`)
		if c.Kind == "no_tls" {
			why = regexp.MustCompile(`Disconnected while requesting ApiVersion`)
		}
		_, stderr, err := d.kcatRun(ctx, c, nil, 0, why, "-L", "-t", c.Topic, "-m", "6")
		if err == nil && !why.MatchString(stderr) {
			return secResult{}
		}
		return kcatFailure(err, stderr)
	case "deny_topic":
		_, stderr, err := d.kcatRun(ctx, c, [][]byte{lines(c.Records[:1])}, 0, denied, produce...)
		return kcatFailure(err, stderr)
	case "deny_group":
		_, stderr, err := d.kcatRun(ctx, c, nil, 0, denied, "-G", c.Group, c.Topic)
		return kcatFailure(err, stderr)
	case "deny_cluster":
		if d.modes == "" || regexp.MustCompile(`(?i)admin|config|acl`).MatchString(d.modes) {
			return secResult{Code: -1, Error: fmt.Sprintf("kcat -h lists modes %q: check whether one can describe configs", d.modes)}
		}
		return secResult{Unsupported: fmt.Sprintf("%s sends no admin requests: its modes (kcat -h) are %s", d.ver, d.modes)}
	case "deny_txn":
		_, stderr, err := d.kcatRun(ctx, c, [][]byte{lines(c.Records[:1])}, 0, denied, append(produce, "-X", "transactional.id="+c.TxnID)...)
		return kcatFailure(err, stderr)
	}
	return secResult{Code: -1, Error: "unknown kind " + c.Kind}
}

// secJava runs the Java cells in one JVM (clients/java/SecMatrix.java).
type secJava struct {
	argv []string
	ver  string
}

// newSecJava runs SecMatrix from the package's compiled clients/java (see
// compiledJava) and asks it for the client's version.
func newSecJava() (*secJava, error) {
	java, cp, err := compiledJava()
	if err != nil {
		return nil, err
	}
	// Quick start on two loaded cores: the C1 compiler only, one GC thread.
	argv := []string{java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}
	// LONGBOAT_SECURITY_JAVA_LOG names a file for the client's debug log.
	if f := os.Getenv("LONGBOAT_SECURITY_JAVA_LOG"); f != "" {
		argv = append(argv, "-Dorg.slf4j.simpleLogger.defaultLogLevel=debug", "-Dorg.slf4j.simpleLogger.logFile="+f, "-Dorg.slf4j.simpleLogger.showDateTime=true")
	} else {
		argv = append(argv, "-Dorg.slf4j.simpleLogger.defaultLogLevel=off")
	}
	argv = append(argv, "-cp", strings.Join(cp, ":"), "SecMatrix")
	out, err := exec.Command(argv[0], append(argv[1:], "version")...).Output()
	var v struct{ Version string }
	if err != nil || json.Unmarshal(out, &v) != nil {
		return nil, fmt.Errorf("SecMatrix version: %v: %s", err, out)
	}
	return &secJava{argv: argv, ver: v.Version}, nil
}

func (d *secJava) name() string    { return "java" }
func (d *secJava) version() string { return d.ver }

func (d *secJava) run(ctx context.Context, cells []*secCell) map[string]secResult {
	return runBatch(ctx, d.argv, cells)
}

// runBatch runs one process for all cells: the cells as one JSON line on
// its stdin, an answer per line on its stdout. A cell without an answer
// fails with the process's stderr.
func runBatch(ctx context.Context, argv []string, cells []*secCell) map[string]secResult {
	out := map[string]secResult{}
	in, err := json.Marshal(cells)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(in, '\n'))
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	var stdout io.ReadCloser
	if err == nil {
		stdout, err = cmd.StdoutPipe()
	}
	if err == nil {
		err = cmd.Start()
	}
	if err == nil {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r secResult
			if jerr := json.Unmarshal(sc.Bytes(), &r); jerr != nil {
				err = fmt.Errorf("answer %q: %w", sc.Text(), jerr)
				continue
			}
			out[r.ID] = r
		}
		if werr := cmd.Wait(); err == nil {
			err = werr
		}
	}
	for _, c := range cells {
		if _, ok := out[c.ID]; !ok {
			out[c.ID] = secResult{ID: c.ID, Code: -1, noAnswer: true,
				Error: fmt.Sprintf("%s gave no answer: %v: %s", filepath.Base(argv[len(argv)-1]), err, tail(stderr.String(), 1500))}
		}
	}
	return out
}

// secPython runs the cells of both Python libraries in one process
// (clients/pysec.py): each library's run hands its cells over, and the
// last one starts the process.
type secPython struct {
	versions map[string]string
	columns  int // how many libraries' runs to wait for
	mu       sync.Mutex
	pending  []*secCell
	waiting  int
	done     chan struct{}
	results  map[string]secResult
}

func newSecPython() *secPython {
	p := &secPython{versions: map[string]string{}, done: make(chan struct{})}
	out, err := exec.Command(debianPython, "clients/pysec.py", "version").Output()
	var v map[string]*string
	if err != nil || json.Unmarshal(out, &v) != nil {
		return p
	}
	for lib, ver := range v {
		if ver != nil {
			p.versions[lib] = *ver
		}
	}
	return p
}

func (p *secPython) run(ctx context.Context, cells []*secCell) map[string]secResult {
	p.mu.Lock()
	p.pending = append(p.pending, cells...)
	p.waiting++
	last := p.waiting == p.columns
	p.mu.Unlock()
	if last {
		p.results = runBatch(ctx, []string{debianPython, "clients/pysec.py"}, p.pending)
		close(p.done)
	}
	select {
	case <-p.done:
		return p.results
	case <-ctx.Done():
		return nil
	}
}

// secPythonLib is one Python library's column.
type secPythonLib struct {
	py       *secPython
	lib, ver string
}

func (d *secPythonLib) name() string    { return d.lib }
func (d *secPythonLib) version() string { return d.ver }
func (d *secPythonLib) run(ctx context.Context, cells []*secCell) map[string]secResult {
	return d.py.run(ctx, cells)
}
