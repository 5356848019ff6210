package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// debianPython is the interpreter Debian's python3-* packages install for.
const debianPython = "/usr/bin/python3"

// procClient drives a client in another process, JSON in and out: a
// Python library through clients/pyclient.py or confluent-kafka-go through
// clients/ckgo, one process per operation, or the Java client through one
// long-lived JVM (clients/java).
type procClient struct {
	addrs []string
	lib   string
	id    string
	ver   string
	c     capabilities
	// props are client properties added to every request (security.protocol,
	// ssl.*), for clients that take them.
	props map[string]string
	// exchange sends one request and returns the answer, and the process's
	// stderr for a diagnosis.
	exchange func(ctx context.Context, req []byte) (resp []byte, stderr string, err error)
}

// newProcClient asks argv for its version; the client is nil when that
// fails.
func newProcClient(addrs []string, lib string, argv []string, c capabilities) *procClient {
	var v struct{ Version string }
	out, err := exec.Command(argv[0], append(argv[1:], "version")...).Output()
	if err != nil || json.Unmarshal(out, &v) != nil {
		return nil
	}
	return &procClient{addrs: addrs, lib: lib, id: "compat-" + lib, ver: v.Version, c: c, exchange: processPerCall(argv)}
}

// processPerCall runs argv for each request, the request on its stdin.
func processPerCall(argv []string) func(context.Context, []byte) ([]byte, string, error) {
	return func(ctx context.Context, req []byte) ([]byte, string, error) {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(req)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.Bytes(), stderr.String(), err
	}
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
	if len(c.props) > 0 {
		req["props"] = c.props
	}
	for k, v := range args {
		req[k] = v
	}
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	out, stderr, runErr := c.exchange(ctx, in)
	var res struct {
		Error       string `json:"error"`
		Unsupported string `json:"unsupported"`
		NotRun      string `json:"not_run"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("%s %s: %v %v: %s %s", c.lib, op, runErr, err, out, tail(stderr, 1500))
	}
	switch {
	case res.Unsupported != "":
		return unsupported("%s", res.Unsupported)
	case res.NotRun != "":
		return notRun("%s", res.NotRun)
	case res.Error != "":
		return fmt.Errorf("%s %s: %s", c.lib, op, res.Error)
	case runErr != nil:
		return fmt.Errorf("%s %s: %v: %s", c.lib, op, runErr, tail(stderr, 1500))
	}
	if resp != nil {
		return json.Unmarshal(out, resp)
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

// groupConsume848 runs the group consumer with group.protocol=consumer:
// only the Java driver sets it.
func (c *procClient) groupConsume848(ctx context.Context, topic, group string, want int) ([]rec, error) {
	switch c.lib {
	case "java":
	case "kafka-python":
		return nil, unsupported("kafka-python has no KIP-848 consumer")
	case "confluent-kafka":
		return nil, unsupported("its librdkafka predates the KIP-848 consumer")
	default:
		return nil, notRun("the driver does not set group.protocol=consumer")
	}
	var resp struct{ Records []rec }
	err := c.call(ctx, "group_consume", map[string]any{"topic": topic, "group": group, "want": want, "protocol": "consumer"}, &resp)
	return resp.Records, err
}

func (c *procClient) createTopic(ctx context.Context, topic string, partitions int32) error {
	return c.call(ctx, "create_topic", map[string]any{"topic": topic, "partitions": partitions}, nil)
}

func (c *procClient) describeTopic(ctx context.Context, topic string) (map[int32]int32, error) {
	_, leaders, err := c.describe(ctx, "describe_topic", map[string]any{"topic": topic})
	return leaders, err
}

func (c *procClient) describeTopicByID(ctx context.Context, id string) (string, map[int32]int32, error) {
	return c.describe(ctx, "describe_topic_id", map[string]any{"id": id})
}

// describe runs a describe operation: the topic's name and the leader of
// each partition.
func (c *procClient) describe(ctx context.Context, op string, args map[string]any) (string, map[int32]int32, error) {
	var resp struct {
		Name    string
		Leaders map[int32]int32
	}
	err := c.call(ctx, op, args, &resp)
	return resp.Name, resp.Leaders, err
}

func (c *procClient) createPartitions(ctx context.Context, topic string, total int32) error {
	return c.call(ctx, "create_partitions", map[string]any{"topic": topic, "total": total}, nil)
}

func (c *procClient) createAssigned(ctx context.Context, topic string, sets [][]int32) error {
	return c.call(ctx, "create_topic", map[string]any{"topic": topic, "assignment": sets}, nil)
}

func (c *procClient) addAssigned(ctx context.Context, topic string, total int32, sets [][]int32) error {
	return c.call(ctx, "create_partitions", map[string]any{"topic": topic, "total": total, "assignment": sets}, nil)
}

func (c *procClient) deleteTopic(ctx context.Context, topic string) error {
	return c.call(ctx, "delete_topic", map[string]any{"topic": topic}, nil)
}

func (c *procClient) offsetForTime(ctx context.Context, topic string, partition int32, ts int64) (int64, error) {
	var resp struct{ Offset int64 }
	err := c.call(ctx, "offset_for_time", map[string]any{"topic": topic, "partition": partition, "ts": ts}, &resp)
	return resp.Offset, err
}

func (c *procClient) deleteTopicByID(ctx context.Context, id string) error {
	return c.call(ctx, "delete_topic_id", map[string]any{"id": id}, nil)
}

func (c *procClient) alterTopicConfig(ctx context.Context, topic, key, value string) error {
	return c.call(ctx, "alter_topic_config", map[string]any{"topic": topic, "key": key, "value": value}, nil)
}

func (c *procClient) alterQuota(ctx context.Context, clientID, key string, value float64, remove bool) error {
	return c.call(ctx, "alter_quota", map[string]any{"client_id": clientID, "key": key, "quota_value": value, "remove": remove}, nil)
}

func (c *procClient) describeQuotas(ctx context.Context, clientID string) (map[string]float64, error) {
	var resp struct{ Values map[string]float64 }
	err := c.call(ctx, "describe_quotas", map[string]any{"client_id": clientID}, &resp)
	return resp.Values, err
}

func (c *procClient) describeQuorum(ctx context.Context) (quorum, error) {
	var q quorum
	err := c.call(ctx, "describe_quorum", nil, &q)
	slices.Sort(q.Voters)
	return q, err
}

func (c *procClient) describeTopicConfig(ctx context.Context, topic, key string) (string, error) {
	var resp struct{ Value string }
	err := c.call(ctx, "describe_topic_config", map[string]any{"topic": topic, "key": key}, &resp)
	return resp.Value, err
}

func (c *procClient) deleteRecords(ctx context.Context, topic string, partition int32, before int64) error {
	var resp struct {
		LowWatermark int64 `json:"low_watermark"`
	}
	if err := c.call(ctx, "delete_records", map[string]any{"topic": topic, "partition": partition, "before": before}, &resp); err != nil {
		return err
	}
	if resp.LowWatermark != before {
		return fmt.Errorf("%s delete records below %d: low watermark %d", c.lib, before, resp.LowWatermark)
	}
	return nil
}

func (c *procClient) listGroups(ctx context.Context) ([]string, error) {
	var resp struct{ Groups []string }
	err := c.call(ctx, "list_groups", nil, &resp)
	return resp.Groups, err
}

func (c *procClient) describeGroup(ctx context.Context, group string) (groupDescription, error) {
	var resp groupDescription
	err := c.call(ctx, "describe_group", map[string]any{"group": group}, &resp)
	return resp, err
}

func (c *procClient) groupOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	var resp struct{ Offsets map[int32]int64 }
	err := c.call(ctx, "group_offsets", map[string]any{"group": group, "topic": topic}, &resp)
	return resp.Offsets, err
}

func (c *procClient) alterGroupOffsets(ctx context.Context, group, topic string, offsets map[int32]int64) error {
	return c.call(ctx, "alter_group_offsets", map[string]any{"group": group, "topic": topic, "offsets": offsets}, nil)
}

func (c *procClient) deleteGroup(ctx context.Context, group string) error {
	return c.call(ctx, "delete_group", map[string]any{"group": group}, nil)
}
