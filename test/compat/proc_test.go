package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// debianPython is the interpreter Debian's python3-* packages install for.
const debianPython = "/usr/bin/python3"

// procClient drives a client in another process, one process per
// operation, JSON in and out: a Python library through clients/pyclient.py,
// or confluent-kafka-go through clients/ckgo.
type procClient struct {
	addrs []string
	lib   string
	argv  []string // the command; stdin carries the request
	id    string
	ver   string
	c     capabilities
}

// newProcClient asks argv for its version; the client is nil when that
// fails.
func newProcClient(addrs []string, lib string, argv []string, c capabilities) *procClient {
	var v struct{ Version string }
	out, err := exec.Command(argv[0], append(argv[1:], "version")...).Output()
	if err != nil || json.Unmarshal(out, &v) != nil {
		return nil
	}
	return &procClient{addrs: addrs, lib: lib, argv: argv, id: "compat-" + lib, ver: v.Version, c: c}
}

// newPyClient drives a Python library, or is nil when Debian's package
// for it is not installed.
func newPyClient(addrs []string, lib, module string, c capabilities) *procClient {
	if err := exec.Command(debianPython, "-c", "import "+module).Run(); err != nil {
		return nil
	}
	return newProcClient(addrs, lib, []string{debianPython, "clients/pyclient.py", lib}, c)
}

// newCkgoClient builds clients/ckgo (cgo, with the librdkafka that
// confluent-kafka-go bundles) into dir, or returns why it cannot.
func newCkgoClient(addrs []string, dir string, c capabilities) (*procClient, error) {
	bin := filepath.Join(dir, "ckgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "clients/ckgo"
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build clients/ckgo: %v: %s", err, tail(string(out), 1500))
	}
	pc := newProcClient(addrs, "confluent-kafka-go", []string{bin}, c)
	if pc == nil {
		return nil, fmt.Errorf("%s version failed", bin)
	}
	return pc, nil
}

func (c *procClient) name() string       { return c.lib }
func (c *procClient) clientID() string   { return c.id }
func (c *procClient) version() string    { return c.ver }
func (c *procClient) caps() capabilities { return c.c }

// call runs one operation; args are merged into the request.
func (c *procClient) call(ctx context.Context, op string, args map[string]any, resp any) error {
	req := map[string]any{"op": op, "bootstrap": c.addrs, "client_id": c.id}
	if dl, ok := ctx.Deadline(); ok {
		req["timeout"] = max(1, time.Until(dl).Seconds()-2)
	}
	for k, v := range args {
		req[k] = v
	}
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct {
		Error       string `json:"error"`
		Unsupported string `json:"unsupported"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return fmt.Errorf("%s %s: %v %v: %s %s", c.lib, op, runErr, err, stdout.String(), tail(stderr.String(), 1500))
	}
	switch {
	case res.Unsupported != "":
		return unsupported("%s", res.Unsupported)
	case res.Error != "":
		return fmt.Errorf("%s %s: %s", c.lib, op, res.Error)
	case runErr != nil:
		return fmt.Errorf("%s %s: %v: %s", c.lib, op, runErr, tail(stderr.String(), 1500))
	}
	if resp != nil {
		return json.Unmarshal(stdout.Bytes(), resp)
	}
	return nil
}

func (c *procClient) produce(ctx context.Context, topic string, o produceOpts, recs []rec) error {
	return c.call(ctx, "produce", map[string]any{"topic": topic, "acks": o.acks, "codec": o.codec, "idempotent": o.idempotent, "records": recs}, nil)
}

func (c *procClient) consume(ctx context.Context, topic string, ranges []prange) ([]rec, error) {
	var resp struct{ Records []rec }
	err := c.call(ctx, "consume", map[string]any{"topic": topic, "ranges": ranges}, &resp)
	return resp.Records, err
}

func (c *procClient) groupConsume(ctx context.Context, topic, group string, want int) ([]rec, error) {
	var resp struct{ Records []rec }
	err := c.call(ctx, "group_consume", map[string]any{"topic": topic, "group": group, "want": want}, &resp)
	return resp.Records, err
}

func (c *procClient) createTopic(ctx context.Context, topic string, partitions int32) error {
	return c.call(ctx, "create_topic", map[string]any{"topic": topic, "partitions": partitions}, nil)
}

func (c *procClient) describeTopic(ctx context.Context, topic string) (map[int32]int32, error) {
	var resp struct{ Leaders map[string]int32 }
	if err := c.call(ctx, "describe_topic", map[string]any{"topic": topic}, &resp); err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for p, l := range resp.Leaders {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out[int32(n)] = l
	}
	return out, nil
}

func (c *procClient) createPartitions(ctx context.Context, topic string, total int32) error {
	return c.call(ctx, "create_partitions", map[string]any{"topic": topic, "total": total}, nil)
}

func (c *procClient) deleteTopic(ctx context.Context, topic string) error {
	return c.call(ctx, "delete_topic", map[string]any{"topic": topic}, nil)
}

func (c *procClient) offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	var resp struct{ Offset int64 }
	err := c.call(ctx, "offset_for_time", map[string]any{"topic": topic, "partition": partition, "ts": ts}, &resp)
	return resp.Offset, err
}
