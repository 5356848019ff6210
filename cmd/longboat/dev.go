package main

import (
	"bufio"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/longboat/longboat/internal/logging"
)

// devPorts are the default ports of broker i (1-based): Kafka 9092+i-1,
// Raft 9192, 9292, 9392..., HTTP 13092+i-1.
func devPorts(i int) (kafka, raft, http int) {
	return 9091 + i, 9092 + 100*i, 13091 + i
}

// devPortsFree fails when a port the brokers need is taken, typically by
// another `longboat dev` or brokers left from one: a broker that cannot
// bind would only exit and be restarted in a loop, while clients and health
// checks on the same ports quietly reach the other cluster. It names the
// process holding each port where the system tells (Linux).
func devPortsFree(nodes int) error {
	type taken struct {
		broker, port int
		what         string
	}
	var busy []taken
	for i := 1; i <= nodes; i++ {
		k, r, h := devPorts(i)
		for _, p := range []taken{{i, k, "Kafka"}, {i, r, "Raft"}, {i, h, "HTTP"}} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
			if err != nil {
				busy = append(busy, p)
				continue
			}
			_ = l.Close() // only probing
		}
	}
	if len(busy) == 0 {
		return nil
	}
	ports := make([]int, len(busy))
	for i, b := range busy {
		ports[i] = b.port
	}
	owners := listenerPIDs(ports)
	var lines, commands, pids []string
	for _, b := range busy {
		line := fmt.Sprintf("broker %d's %s port %d is taken", b.broker, b.what, b.port)
		if pid, ok := owners[b.port]; ok {
			line += fmt.Sprintf(" by pid %d", pid)
			if p := strconv.Itoa(pid); !slices.Contains(pids, p) {
				pids = append(pids, p)
				commands = append(commands, fmt.Sprintf("pid %d: %s", pid, processCommand(pid)))
			}
		}
		lines = append(lines, line)
	}
	lines = append(lines, commands...)
	hint := "stop what holds them first (another `longboat dev`, or brokers left from an earlier one)"
	if len(pids) > 0 {
		hint += ": kill " + strings.Join(pids, " ")
	}
	return fmt.Errorf("%s\n%s", strings.Join(lines, "\n"), hint)
}

// softSettings is the Docker image's dragonboat-soft-settings.json
// (docker/etc/longboat; a test keeps this copy in devconfig/ the same).
// dragonboat reads it from the working directory when a broker process
// starts; its smaller per-replica queues and single pending-proposal shard
// take a broker with 1,000 idle partitions from ~2.4 GiB to ~0.55 GiB and
// ~19% to ~13% of a core, at the same produce throughput
// (docs/BENCHMARKS.md), so dev brokers run like the Compose ones.
//
//go:embed devconfig/dragonboat-soft-settings.json
var softSettings []byte

const softSettingsFile = "dragonboat-soft-settings.json"

// devWorkDir makes dir (absolute) the brokers' working directory and puts
// the soft settings there, keeping a file the user already placed or edited.
func devWorkDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("--dir %s: %w", dir, err)
	}
	path := filepath.Join(abs, softSettingsFile)
	if _, err := os.Stat(path); err == nil {
		return abs, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("check %s: %w", path, err)
	}
	if err := os.WriteFile(path, softSettings, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return abs, nil
}

// dev runs N brokers as child processes of this binary, so that any one can
// be killed (kill -9 its pid) like a real broker; it comes back after
// --restart-delay and catches up.
func dev(args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "number of brokers (1-9)")
	dir := fs.String("dir", "./data", "data directory; broker N uses DIR/nodeN, and every broker runs in DIR, where dev puts dragonboat-soft-settings.json unless one is there")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	restart := fs.Duration("restart-delay", 5*time.Second, "restart a broker that died after this long (0: leave it down)")
	autoCreate := fs.Bool("auto-create-topics", true, "brokers create a topic a producer names (Kafka's default, for a quick start); false as `serve` does")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if *nodes < 1 || *nodes > 9 {
		return fmt.Errorf("--nodes %d: use 1 to 9", *nodes)
	}
	if err := devPortsFree(*nodes); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	workDir, err := devWorkDir(*dir)
	if err != nil {
		return err
	}
	var members, membersHTTP, bootstrap []string
	for i := 1; i <= *nodes; i++ {
		k, raft, h := devPorts(i)
		members = append(members, fmt.Sprintf("%d=127.0.0.1:%d", i, raft))
		membersHTTP = append(membersHTTP, fmt.Sprintf("%d=127.0.0.1:%d", i, h))
		bootstrap = append(bootstrap, fmt.Sprintf("localhost:%d", k))
	}
	// The brokers write to pipes that dev copies to its own output, so
	// they colour their lines only when that output is a terminal.
	color := "never"
	if logging.IsTerminal(os.Stdout) {
		color = "always"
	}
	argsFor := func(i int) []string {
		k, r, h := devPorts(i)
		return []string{"serve",
			"--node-id", fmt.Sprint(i),
			"--data-dir", filepath.Join(workDir, fmt.Sprintf("node%d", i)),
			"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", k),
			"--advertised-listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", k),
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", r),
			"--initial-members", strings.Join(members, ","),
			"--initial-members-http", strings.Join(membersHTTP, ","),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", h),
			"--default-replication-factor", fmt.Sprint(min(3, *nodes)),
			fmt.Sprintf("--auto-create-topics=%t", *autoCreate),
			"--log-level", *logLevel,
			"--log-format", "console",
			"--log-color", color,
		}
	}
	stopping := make(chan struct{})
	var procs sync.Map // broker id -> *os.Process
	var wg sync.WaitGroup
	for i := 1; i <= *nodes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(i, exe, workDir, argsFor(i), *restart, stopping, &procs)
		}()
	}
	fmt.Printf("bootstrap servers: %s  (Ctrl-C stops all brokers)\n", strings.Join(bootstrap, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping brokers...")
	close(stopping)
	procs.Range(func(_, p any) bool {
		_ = p.(*os.Process).Signal(syscall.SIGTERM)
		return true
	})
	wg.Wait()
	fmt.Println("all brokers stopped")
	return nil
}

// supervise runs broker i in workDir until dev stops, restarting it after it dies.
func supervise(i int, exe, workDir string, args []string, restart time.Duration, stopping <-chan struct{}, procs *sync.Map) {
	// The parent-death signal (brokerProcAttr) fires when the thread that
	// started the broker exits, not the process. An unlocked goroutine's
	// thread can pass to another goroutine that locks it and ends it, which
	// would stop a healthy broker; so this goroutine keeps its own thread
	// until its last broker has exited (returning locked ends the thread,
	// with no broker left).
	runtime.LockOSThread()
	tag := fmt.Sprintf("[broker%d] ", i)
	for {
		cmd := exec.Command(exe, args...)
		cmd.Dir = workDir
		cmd.SysProcAttr = brokerProcAttr()
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			fmt.Printf("%sstart failed: %v\n", tag, err)
			return
		}
		procs.Store(i, cmd.Process)
		k, r, h := devPorts(i)
		fmt.Printf("%spid %d: Kafka 127.0.0.1:%d, Raft 127.0.0.1:%d, HTTP http://127.0.0.1:%d\n", tag, cmd.Process.Pid, k, r, h)
		var out sync.WaitGroup
		out.Add(2)
		go prefix(&out, tag, stdout)
		go prefix(&out, tag, stderr)
		out.Wait()
		err := cmd.Wait()
		select {
		case <-stopping:
			return
		default:
		}
		if restart <= 0 {
			fmt.Printf("%sexited (%v); left down\n", tag, err)
			return
		}
		fmt.Printf("%sexited (%v); restarting in %v\n", tag, err, restart)
		select {
		case <-stopping:
			return
		case <-time.After(restart):
		}
	}
}

func prefix(wg *sync.WaitGroup, p string, r io.Reader) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Println(p + sc.Text())
	}
}
