package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// kcatClient drives Debian's kcat, i.e. librdkafka's producer, consumer,
// balanced consumer, metadata and offset queries. kcat reads text lines
// and cannot set a record's timestamp or vary headers within one run.
type kcatClient struct {
	without // no admin commands
	addrs   []string
	path    string
}

func (c *kcatClient) name() string     { return "kcat" }
func (c *kcatClient) clientID() string { return "compat-kcat" }

func (c *kcatClient) version() string {
	out, _ := exec.Command(c.path, "-V").CombinedOutput()
	if m := regexp.MustCompile(`Version (\S+) .*librdkafka (\S+)`).FindSubmatch(out); m != nil {
		return fmt.Sprintf("kcat %s, librdkafka %s (Debian)", m[1], m[2])
	}
	return "unknown"
}

func (c *kcatClient) caps() capabilities {
	return capabilities{idempotent: true, codecs: []string{"none", "gzip", "snappy", "lz4", "zstd"}}
}

// run runs kcat with the common arguments, failing on a non-zero exit.
func (c *kcatClient) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	args = append([]string{"-b", strings.Join(c.addrs, ","), "-X", "client.id=" + c.clientID()}, args...)
	cmd := exec.CommandContext(ctx, c.path, args...)
	// On timeout interrupt, so that kcat exits cleanly with what it has.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("kcat %s: %v %v: %s", strings.Join(args, " "), err, ctx.Err(), tail(stderr.String(), 1500))
	}
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (c *kcatClient) produce(ctx context.Context, topic string, o produceOpts, recs []rec) error {
	// One kcat run per partition: records are text lines "key\tvalue", and
	// -Z sends an empty key or value as null.
	byP := map[int32][]rec{}
	for _, r := range recs {
		byP[r.Partition] = append(byP[r.Partition], r)
	}
	for _, p := range sortedKeys(byP) {
		rs := byP[p]
		args := []string{"-P", "-t", topic, "-p", strconv.Itoa(int(p)), "-K", "\t", "-Z", "-X", fmt.Sprintf("acks=%d", o.acks)}
		if o.codec != "none" {
			args = append(args, "-z", o.codec)
		}
		if o.idempotent {
			args = append(args, "-X", "enable.idempotence=true")
		}
		for _, h := range rs[0].Headers {
			args = append(args, "-H", h.Key+"="+string(h.Value))
		}
		var in bytes.Buffer
		for _, r := range rs {
			if (r.Key != nil && len(r.Key) == 0) || (r.Value != nil && len(r.Value) == 0) {
				return fmt.Errorf("kcat cannot send an empty non-null key or value")
			}
			fmt.Fprintf(&in, "%s\t%s\n", r.Key, r.Value)
		}
		if _, err := c.run(ctx, in.Bytes(), args...); err != nil {
			return err
		}
	}
	return nil
}

// kcatMessage is kcat's -J envelope.
type kcatMessage struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TS        int64    `json:"ts"`
	Headers   []string `json:"headers"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

func parseKcat(out []byte) ([]rec, error) {
	var recs []rec
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return recs, fmt.Errorf("kcat output line %q: %w", line, err)
		}
		r := rec{Partition: m.Partition, Offset: m.Offset, Timestamp: m.TS}
		if m.Key != nil {
			r.Key = []byte(*m.Key)
		}
		if m.Payload != nil {
			r.Value = []byte(*m.Payload)
		}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			r.Headers = append(r.Headers, header{Key: m.Headers[i], Value: []byte(m.Headers[i+1])})
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func (c *kcatClient) consume(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	var out []rec
	for _, r := range ranges {
		if r.To <= r.From {
			continue
		}
		stdout, err := c.run(ctx, nil, "-C", "-t", topic, "-p", strconv.Itoa(int(r.Partition)), "-o", strconv.FormatInt(r.From, 10),
			"-c", strconv.FormatInt(r.To-r.From, 10), "-e", "-J")
		if err != nil {
			return out, err
		}
		recs, err := parseKcat(stdout)
		if err != nil {
			return out, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// groupConsume848: Debian's kcat is built on a librdkafka that predates
// its KIP-848 consumer.
func (c *kcatClient) groupConsume848(context.Context, string, string, int) ([]rec, error) {
	return nil, unsupported("kcat's librdkafka predates the KIP-848 consumer")
}

func (c *kcatClient) groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error) {
	// -c exits after want messages; closing the consumer commits the
	// offsets librdkafka stored for them.
	stdout, err := c.run(ctx, nil, "-G", group, "-X", "auto.offset.reset=earliest", "-c", strconv.Itoa(want), "-J", topic)
	if err != nil {
		return nil, err
	}
	return parseKcat(stdout)
}

func (c *kcatClient) createTopic(context.Context, string, int32) error {
	return unsupported("kcat has no admin commands")
}

func (c *kcatClient) describeTopic(ctx context.Context, topic string) (map[int32]int32, error) {
	stdout, err := c.run(ctx, nil, "-L", "-J", "-t", topic)
	if err != nil {
		return nil, err
	}
	var md struct {
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(stdout, &md); err != nil {
		return nil, fmt.Errorf("kcat -L -J: %w: %s", err, stdout)
	}
	out := map[int32]int32{}
	for _, t := range md.Topics {
		if t.Topic != topic {
			continue
		}
		if t.Error != "" {
			return nil, fmt.Errorf("kcat -L: topic %s: %s", topic, t.Error)
		}
		for _, p := range t.Partitions {
			out[p.Partition] = p.Leader
		}
	}
	return out, nil
}

func (c *kcatClient) createPartitions(context.Context, string, int32) error {
	return unsupported("kcat has no admin commands")
}

func (c *kcatClient) createAssigned(context.Context, string, [][]int32) error {
	return unsupported("kcat has no admin commands")
}

func (c *kcatClient) addAssigned(context.Context, string, int32, [][]int32) error {
	return unsupported("kcat has no admin commands")
}

func (c *kcatClient) deleteTopic(context.Context, string) error {
	return unsupported("kcat has no admin commands")
}

func (c *kcatClient) offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	stdout, err := c.run(ctx, nil, "-Q", "-t", fmt.Sprintf("%s:%d:%d", topic, partition, ts))
	if err != nil {
		return 0, err
	}
	// "<topic> [<partition>] offset <n>"
	m := regexp.MustCompile(`\[(\d+)\]\s+offset\s+(-?\d+)`).FindAllSubmatch(stdout, -1)
	for _, g := range m {
		if p, _ := strconv.Atoi(string(g[1])); int32(p) == partition {
			return strconv.ParseInt(string(g[2]), 10, 64)
		}
	}
	return 0, fmt.Errorf("kcat -Q printed no offset for partition %d: %q", partition, stdout)
}
