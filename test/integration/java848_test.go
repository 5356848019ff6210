package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// javaClasspath is the Apache Kafka Java client and its Debian runtime
// dependencies, or why they are missing.
func javaClasspath() ([]string, error) {
	jar, err := filepath.Abs("../compat/clients/java/lib/kafka-clients-3.9.0.jar")
	if err != nil {
		return nil, err
	}
	cp := []string{jar}
	for _, d := range []string{"zstd-jni", "lz4-java", "snappy-java", "slf4j-api", "slf4j-simple", "protobuf"} {
		cp = append(cp, "/usr/share/java/"+d+".jar")
	}
	for _, f := range cp {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s missing (see test/compat/clients/java/lib/README.md)", f)
		}
	}
	return cp, nil
}

// javaMember is one GroupMember848 process: a Java KafkaConsumer with
// group.protocol=consumer recording what it consumed.
type javaMember struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	seen  []record
	done  chan struct{}
}

func startJavaMember(t *testing.T, argv []string, seeds []string, group, topic string) *javaMember {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], strings.Join(seeds, ","), group, topic)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t, "java"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &javaMember{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	t.Cleanup(func() { m.close(t) })
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 4)
			if len(f) != 4 || f[0] != "R" {
				continue
			}
			p, _ := strconv.Atoi(f[1])
			o, _ := strconv.ParseInt(f[2], 10, 64)
			m.mu.Lock()
			m.seen = append(m.seen, record{int32(p), o, f[3]})
			m.mu.Unlock()
		}
	}()
	return m
}

// close ends the member's input: it leaves the group and exits.
func (m *javaMember) close(t *testing.T) {
	if m.stdin == nil {
		return
	}
	m.stdin.Close()
	m.stdin = nil
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Errorf("java member %d did not exit", m.cmd.Process.Pid)
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	_ = m.cmd.Wait()
}

func (m *javaMember) records() []record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]record(nil), m.seen...)
}

// testWriter logs a process's stderr through the test, after name.
type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// javaMember848 compiles GroupMember848 and returns the command that runs
// one; the test is skipped (failed with LONGBOAT_REQUIRE_CLIENTS) when
// Java or the client's jars are missing.
func javaMember848(t *testing.T) []string {
	t.Helper()
	return javaProgram(t, "GroupMember848")
}

// javaProgram compiles testdata/java/<class>.java against the Kafka Java
// client and returns the command that runs it; the test is skipped (failed
// with LONGBOAT_REQUIRE_CLIENTS) when Java or the client's jars are
// missing.
func javaProgram(t *testing.T, class string) []string {
	t.Helper()
	cp, err := javaClasspath()
	javac, errc := exec.LookPath("javac")
	java, errj := exec.LookPath("java")
	if err != nil || errc != nil || errj != nil {
		if os.Getenv("LONGBOAT_REQUIRE_CLIENTS") != "" {
			t.Fatalf("the Java client cannot run: %v %v %v", err, errc, errj)
		}
		t.Skipf("the Java client cannot run: %v %v %v", err, errc, errj)
	}
	classes := t.TempDir()
	if out, err := exec.Command(javac, "-cp", strings.Join(cp, ":"), "-d", classes, "testdata/java/"+class+".java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v: %s", err, out)
	}
	libs, _ := filepath.Glob("/usr/lib/*/jni")
	return []string{java, "-Djava.library.path=" + strings.Join(libs, ":"), "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", strings.Join(append(cp, classes), ":"), class}
}

// TestKIP848JavaJoinOneByOneAndLeave: three Java consumers with
// group.protocol=consumer join one at a time and end with two partitions
// each; one leaves and the other two take its partitions; every record is
// consumed (at least once) and the committed offsets reach the ends.
func TestKIP848JavaJoinOneByOneAndLeave(t *testing.T) {
	argv := javaMember848(t)
	c := sharedCluster(t)
	seeds := c.Addrs()

	const topic, groupID = "k848-java", "g848-java"
	createTopic(t, seeds, topic, 6, 3)
	produced := produceN(t, newClient(t, seeds), topic, "a", 600)
	var members []*javaMember
	for i := 1; i <= 3; i++ {
		members = append(members, startJavaMember(t, argv, seeds, groupID, topic))
		owned := waitConsumerGroup(t, seeds, groupID, i, 60*time.Second)
		for id, n := range owned {
			if n != 6/i {
				t.Fatalf("with %d members, %s owns %d partitions, want %d: %v", i, id, n, 6/i, owned)
			}
		}
	}
	waitJavaConsumed(t, members, produced)

	members[2].close(t)
	owned := waitConsumerGroup(t, seeds, groupID, 2, 60*time.Second)
	for id, n := range owned {
		if n != 3 {
			t.Fatalf("after a member left, %s owns %d partitions, want 3: %v", id, n, owned)
		}
	}
	more := produceN(t, newClient(t, seeds), topic, "b", 150)
	waitJavaConsumed(t, members[:2], more)
	for _, m := range members[:2] {
		m.close(t)
	}
	var all []record
	for _, m := range members {
		all = append(all, m.records()...)
	}
	unique, redelivered := dedupeByPosition(t, all)
	checkSameRecords(t, append(produced, more...), unique)
	committed := committedOffsets(t, seeds, groupID)
	for p, end := range endOffsets(context.Background(), t, seeds, topic) {
		if committed[p] != end {
			t.Fatalf("partition %d committed %d, end %d (committed %s)", p, committed[p], end, sortedParts(committed))
		}
	}
	t.Logf("consumed %d records, %d redelivered", len(unique), redelivered)
}

func waitJavaConsumed(t *testing.T, members []*javaMember, want []record) {
	t.Helper()
	var sources []func() []record
	for _, m := range members {
		sources = append(sources, m.records)
	}
	seenAll(t, sources, want)
}
