package compat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// javaJar is the Apache Kafka Java client (see clients/java/lib/README.md).
const javaJar = "clients/java/lib/kafka-clients-3.9.0.jar"

// javaDeps are the client's runtime dependencies as Debian installs them,
// with the package that holds each.
var javaDeps = []struct{ jar, pkg string }{
	{"/usr/share/java/zstd-jni.jar", "libzstd-jni-java"},
	{"/usr/share/java/lz4-java.jar", "liblz4-java"},
	{"/usr/share/java/snappy-java.jar", "libsnappy-java"},
	{"/usr/share/java/slf4j-api.jar", "libslf4j-java"},
	{"/usr/share/java/slf4j-simple.jar", "libslf4j-java"},
	{"/usr/share/java/protobuf.jar", "libprotobuf-java"},
}

// javaBuild is clients/java compiled once per run, for the CompatDriver
// JVM and the security matrix's SecMatrix runs alike: javac costs seconds
// of CPU. TestMain removes its directory.
var javaBuild struct {
	once sync.Once
	java string   // the java command
	cp   []string // the client jar, its dependencies and the compiled classes
	dir  string   // the compiled classes
	err  error
}

// javaRun is the package's one CompatDriver JVM: a request carries its own
// bootstrap servers and client properties, so every Java test shares it,
// and the JVM's start is paid once per run, not once per test. TestMain
// closes it.
var javaRun struct {
	once   sync.Once
	driver *jvmDriver
	ver    string
	err    error
}

// newJavaClient returns a client of addrs served by the package's JVM,
// compiling clients/java and starting the JVM on first use, or why it
// cannot. Setting LONGBOAT_COMPAT_JAVA_LOG to a file writes the client's
// debug log there: every request and response with its API version and
// fields. The classes go to the run's own directory, not the second
// argument (callers pass a t.TempDir() from when each test compiled its
// own); stop is for those callers too and leaves the JVM to TestMain.
func newJavaClient(addrs []string, _ string, c capabilities) (java *procClient, stop func(), err error) {
	javaRun.once.Do(func() { javaRun.err = startJava() })
	if javaRun.err != nil {
		return nil, nil, javaRun.err
	}
	return &procClient{addrs: addrs, lib: "java", id: "compat-java", ver: javaRun.ver, c: c, exchange: javaRun.driver.exchange}, func() {}, nil
}

// closeJava ends the package's JVM, if a test started it, and removes the
// compiled classes.
func closeJava() {
	if javaRun.driver != nil {
		javaRun.driver.close()
	}
	if javaBuild.dir != "" {
		os.RemoveAll(javaBuild.dir)
	}
}

// compiledJava compiles clients/java on first use and returns the java
// command and the classpath that runs its classes, or why it cannot.
func compiledJava() (java string, cp []string, err error) {
	javaBuild.once.Do(func() { javaBuild.java, javaBuild.cp, javaBuild.dir, javaBuild.err = compileJava() })
	return javaBuild.java, javaBuild.cp, javaBuild.err
}

func compileJava() (java string, cp []string, dir string, err error) {
	javac, err := exec.LookPath("javac")
	if err != nil {
		return "", nil, "", errors.New("no javac (apt-get install default-jdk-headless)")
	}
	if java, err = exec.LookPath("java"); err != nil {
		return "", nil, "", errors.New("no java (apt-get install default-jdk-headless)")
	}
	jar, err := filepath.Abs(javaJar)
	if err != nil {
		return "", nil, "", err
	}
	cp = []string{jar}
	for _, d := range javaDeps {
		if _, err := os.Stat(d.jar); err != nil {
			return "", nil, "", fmt.Errorf("no %s (apt-get install %s)", d.jar, d.pkg)
		}
		cp = append(cp, d.jar)
	}
	sources, err := filepath.Glob("clients/java/*.java")
	if err != nil || len(sources) == 0 {
		return "", nil, "", fmt.Errorf("no Java sources in clients/java: %v", err)
	}
	if dir, err = os.MkdirTemp("", "longboat-compat-java-"); err != nil {
		return "", nil, "", err
	}
	if out, err := exec.Command(javac, append([]string{"-Xlint:all", "-Werror", "-cp", strings.Join(cp, ":"), "-d", dir}, sources...)...).CombinedOutput(); err != nil {
		return "", nil, dir, fmt.Errorf("javac: %v: %s", err, tail(string(out), 1500))
	}
	return java, append(cp, dir), dir, nil
}

// startJava starts the JVM that serves every request of the run, and asks
// it for the client's version.
func startJava() error {
	java, cp, err := compiledJava()
	if err != nil {
		return err
	}
	// Debian's JNI libraries for zstd, lz4 and snappy.
	libs, _ := filepath.Glob("/usr/lib/*/jni")
	for _, l := range libs {
		libs = append(libs, filepath.Dir(l))
	}
	argv := []string{java, "-Djava.library.path=" + strings.Join(libs, ":")}
	if f := os.Getenv("LONGBOAT_COMPAT_JAVA_LOG"); f != "" {
		argv = append(argv, "-Dorg.slf4j.simpleLogger.defaultLogLevel=debug", "-Dorg.slf4j.simpleLogger.logFile="+f,
			"-Dorg.slf4j.simpleLogger.showDateTime=true")
	} else {
		argv = append(argv, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
	}
	argv = append(argv, "-cp", strings.Join(cp, ":"), "CompatDriver")
	javaRun.driver = &jvmDriver{argv: argv}
	pc := &procClient{lib: "java", id: "compat-java", exchange: javaRun.driver.exchange}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var v struct{ Version string }
	if err := pc.call(ctx, "version", nil, &v); err != nil {
		return err
	}
	javaRun.ver = v.Version
	return nil
}

// jvmDriver is one long-lived JVM running CompatDriver: a JSON request per
// line on its stdin, a JSON answer per line on its stdout. It restarts on
// the next request after one went unanswered.
type jvmDriver struct {
	argv   []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
}

func (d *jvmDriver) start() error {
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	d.stderr = &tailBuffer{max: 64 << 10}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the JVM: %w", err)
	}
	d.cmd, d.stdin, d.stdout = cmd, stdin, bufio.NewReaderSize(stdout, 1<<20)
	return nil
}

func (d *jvmDriver) exchange(ctx context.Context, req []byte) ([]byte, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		if err := d.start(); err != nil {
			return nil, "", err
		}
	}
	type answer struct {
		line []byte
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		if _, err := d.stdin.Write(append(req, '\n')); err != nil {
			answered <- answer{err: err}
			return
		}
		line, err := d.stdout.ReadBytes('\n')
		answered <- answer{line, err}
	}()
	select {
	case a := <-answered:
		if a.err != nil {
			stderr := d.stderr.String()
			d.stop()
			return nil, stderr, fmt.Errorf("the JVM stopped answering: %w", a.err)
		}
		return a.line, d.stderr.String(), nil
	case <-ctx.Done():
		stderr := d.stderr.String()
		d.stop()
		<-answered
		return nil, stderr, fmt.Errorf("no answer from the JVM (restarted for the next request): %w", ctx.Err())
	}
}

// stop kills the JVM; the next request starts another.
func (d *jvmDriver) stop() {
	d.stdin.Close()
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	d.cmd = nil
}

// close ends the JVM: it exits at the end of its stdin.
func (d *jvmDriver) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	d.stdin.Close()
	exited := make(chan struct{})
	go func() {
		_ = d.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-exited
	}
	d.cmd = nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
