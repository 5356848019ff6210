package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessBackend runs each broker as a `longboat serve` process. With
// network namespaces (root, `ip netns`), every broker lives in its own
// namespace joined by a veth pair to a bridge (in a namespace of its own,
// reached from the root namespace by one more veth pair), so a
// partition is a set of iptables DROP rules inside one namespace. Without
// them, brokers listen on loopback and only kill and pause are possible.
type ProcessBackend struct {
	Bin        string   // the longboat binary
	Dir        string   // data directories and logs
	ExtraFlags []string // appended to every `longboat serve`
	// Initial is how many brokers are --initial-members (the __meta
	// voters); brokers numbered above it join the running cluster with
	// --join, as an operator adds a broker. 0 means all of them.
	Initial int

	n      int
	netns  bool
	run    string // unique per run: names of namespaces, bridge, veths
	subnet string // "10.77.S" when netns is on
	kafka  []string
	raft   []string
	http   []string
	notes  []string

	// DiskBytes > 0 gives each broker a loop-mounted ext4 image of this
	// size as its data directory, so disk faults hit one broker only.
	DiskBytes int64
	disksUp   bool // images made and mounted: Cleanup unmounts them

	mu    sync.Mutex
	procs []*proc
	logs  []*os.File
}

// proc is one broker process; done closes when it has exited, whoever
// ended it.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // its exit, once done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// NewProcessBackend prepares n brokers. useNetns asks for namespaces; when
// they cannot be made, the backend falls back to loopback and says so.
func NewProcessBackend(bin, dir string, n int, useNetns bool, extra []string) (*ProcessBackend, error) {
	pb := &ProcessBackend{Bin: bin, Dir: dir, ExtraFlags: extra, n: n, procs: make([]*proc, n+1), logs: make([]*os.File, n+1)}
	pb.run = strconv.Itoa(os.Getpid())
	if useNetns {
		CleanupStale()
		if err := pb.setupNetns(); err != nil {
			pb.teardownNetns()
			pb.notes = append(pb.notes, fmt.Sprintf("network namespaces unavailable (%v): loopback processes, kill and pause nemeses only", err))
		} else {
			pb.netns = true
		}
	} else {
		pb.notes = append(pb.notes, "network namespaces off: loopback processes, kill and pause nemeses only")
	}
	if pb.netns {
		for i := 1; i <= n; i++ {
			ip := pb.brokerIP(i)
			pb.kafka = append(pb.kafka, ip+":9092")
			pb.raft = append(pb.raft, ip+":9192")
			pb.http = append(pb.http, ip+":13092")
		}
	} else {
		addrs, err := freeLoopbackAddrs(3 * n)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			pb.kafka = append(pb.kafka, addrs[3*i])
			pb.raft = append(pb.raft, addrs[3*i+1])
			pb.http = append(pb.http, addrs[3*i+2])
		}
	}
	return pb, nil
}

func (pb *ProcessBackend) Name() string {
	if pb.netns {
		return "process+netns"
	}
	return "process(loopback)"
}
func (pb *ProcessBackend) Brokers() int           { return pb.n }
func (pb *ProcessBackend) KafkaAddr(i int) string { return pb.kafka[i-1] }
func (pb *ProcessBackend) HTTPAddr(i int) string  { return pb.http[i-1] }
func (pb *ProcessBackend) Partitions() bool       { return pb.netns }
func (pb *ProcessBackend) OneWay() bool           { return pb.netns }
func (pb *ProcessBackend) Notes() []string        { return pb.notes }
func (pb *ProcessBackend) DataDir(i int) string {
	if pb.DiskBytes > 0 {
		return filepath.Join(pb.mountPoint(i), "data")
	}
	return filepath.Join(pb.Dir, fmt.Sprintf("node%d", i))
}

func (pb *ProcessBackend) nsName(i int) string   { return fmt.Sprintf("lbc%s-%d", pb.run, i) }
func (pb *ProcessBackend) vethHost(i int) string { return fmt.Sprintf("lbc%sh%d", pb.run, i) }
func (pb *ProcessBackend) vethNS(i int) string   { return fmt.Sprintf("lbc%sn%d", pb.run, i) }
func (pb *ProcessBackend) brokerIP(i int) string { return fmt.Sprintf("%s.%d", pb.subnet, 10+i) }
func (pb *ProcessBackend) hostIP() string        { return pb.subnet + ".1" }

func (pb *ProcessBackend) Start(ctx context.Context) error {
	if pb.DiskBytes > 0 {
		if err := pb.setupDisks(); err != nil {
			return err
		}
	}
	for i := 1; i <= pb.n; i++ {
		if err := pb.start(i); err != nil {
			return err
		}
	}
	return nil
}

func (pb *ProcessBackend) initial() int {
	if pb.Initial <= 0 || pb.Initial > pb.n {
		return pb.n
	}
	return pb.Initial
}

func (pb *ProcessBackend) args(i int) []string {
	a := []string{"serve",
		"--node-id", strconv.Itoa(i),
		"--data-dir", pb.DataDir(i),
		"--listeners", "PLAINTEXT://" + pb.kafka[i-1],
		"--raft-addr", pb.raft[i-1],
		"--http-addr", pb.http[i-1],
		"--log-format", "json", "--log-level", "info",
	}
	if i > pb.initial() {
		// The same flag on every start: a restart finds its data
		// directory and does not join again.
		a = append(a, "--join", pb.http[0])
	} else {
		var members, membersHTTP []string
		for j := 1; j <= pb.initial(); j++ {
			members = append(members, fmt.Sprintf("%d=%s", j, pb.raft[j-1]))
			membersHTTP = append(membersHTTP, fmt.Sprintf("%d=%s", j, pb.http[j-1]))
		}
		a = append(a, "--initial-members", strings.Join(members, ","), "--initial-members-http", strings.Join(membersHTTP, ","))
	}
	return append(a, pb.ExtraFlags...)
}

func (pb *ProcessBackend) start(i int) error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.logs[i] == nil {
		f, err := os.OpenFile(filepath.Join(pb.Dir, fmt.Sprintf("broker%d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		pb.logs[i] = f
	}
	var cmd *exec.Cmd
	if pb.netns {
		// `ip netns exec` execs in place: the pid is the broker's own.
		cmd = exec.Command("ip", append([]string{"netns", "exec", pb.nsName(i), pb.Bin}, pb.args(i)...)...)
	} else {
		cmd = exec.Command(pb.Bin, pb.args(i)...)
	}
	cmd.Stdout, cmd.Stderr = pb.logs[i], pb.logs[i]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(pb.logs[i], "{\"chaos\":\"start broker %d\",\"time\":%q}\n", i, time.Now().UTC().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start broker %d: %w", i, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	pb.procs[i] = p
	return nil
}

func (pb *ProcessBackend) signal(i int, sig syscall.Signal) error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	p := pb.procs[i]
	if p == nil || p.exited() {
		return fmt.Errorf("broker %d is not running", i)
	}
	return p.cmd.Process.Signal(sig)
}

func (pb *ProcessBackend) Kill(i int) error {
	pb.mu.Lock()
	p := pb.procs[i]
	pb.procs[i] = nil
	pb.mu.Unlock()
	if p == nil {
		return fmt.Errorf("broker %d is not running", i)
	}
	// A broker that already exited (a disk fault crashed it) counts as
	// killed: the nemesis wanted it down.
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused broker dies just the same
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return nil
}

// Running tells whether broker i's process is alive.
func (pb *ProcessBackend) Running(i int) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.procs[i] != nil && !pb.procs[i].exited()
}

// WaitExit waits up to d for broker i's process to exit and returns its
// exit error (nil for status 0); exited is false when it still runs.
func (pb *ProcessBackend) WaitExit(i int, d time.Duration) (exitErr error, exited bool) {
	pb.mu.Lock()
	p := pb.procs[i]
	pb.mu.Unlock()
	if p == nil {
		return nil, true
	}
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

func (pb *ProcessBackend) logPath(i int) string {
	return filepath.Join(pb.Dir, fmt.Sprintf("broker%d.log", i))
}

func (pb *ProcessBackend) LogSize(i int) int64 {
	st, err := os.Stat(pb.logPath(i))
	if err != nil {
		return 0
	}
	return st.Size()
}

func (pb *ProcessBackend) LogFrom(i int, off int64) string {
	f, err := os.Open(pb.logPath(i))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, _ := f.ReadAt(buf, off)
	return string(buf[:n])
}

func (pb *ProcessBackend) Restart(i int) error { return pb.start(i) }
func (pb *ProcessBackend) Pause(i int) error   { return pb.signal(i, syscall.SIGSTOP) }
func (pb *ProcessBackend) Resume(i int) error  { return pb.signal(i, syscall.SIGCONT) }

// Isolate drops every packet between broker i and the subnet, except the
// observer's requests to its HTTP port (so its metrics stay readable).
func (pb *ProcessBackend) Isolate(i int) error {
	if !pb.netns {
		return ErrUnsupported
	}
	_, httpPort, _ := net.SplitHostPort(pb.http[i-1])
	net24 := pb.subnet + ".0/24"
	return pb.iptables(i,
		[]string{"-A", "INPUT", "-s", pb.hostIP(), "-p", "tcp", "--dport", httpPort, "-j", "ACCEPT"},
		[]string{"-A", "OUTPUT", "-d", pb.hostIP(), "-p", "tcp", "--sport", httpPort, "-j", "ACCEPT"},
		[]string{"-A", "INPUT", "-s", net24, "-j", "DROP"},
		[]string{"-A", "OUTPUT", "-d", net24, "-j", "DROP"},
	)
}

// CutInbound drops what broker i's peers send it; it still reaches them
// and clients still reach it.
func (pb *ProcessBackend) CutInbound(i int) error {
	if !pb.netns {
		return ErrUnsupported
	}
	var rules [][]string
	for j := 1; j <= pb.n; j++ {
		if j != i {
			rules = append(rules, []string{"-A", "INPUT", "-s", pb.brokerIP(j), "-j", "DROP"})
		}
	}
	return pb.iptables(i, rules...)
}

func (pb *ProcessBackend) Heal(i int) error {
	if !pb.netns {
		return nil
	}
	return pb.iptables(i, []string{"-F", "INPUT"}, []string{"-F", "OUTPUT"})
}

func (pb *ProcessBackend) iptables(i int, rules ...[]string) error {
	for _, r := range rules {
		args := append([]string{"netns", "exec", pb.nsName(i), "iptables", "-w"}, r...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %v in %s: %v: %s", r, pb.nsName(i), err, out)
		}
	}
	return nil
}

// Stop sends SIGTERM to every broker and waits (SIGKILL after 30 s).
func (pb *ProcessBackend) Stop() error {
	var wg sync.WaitGroup
	for i := 1; i <= pb.n; i++ {
		pb.mu.Lock()
		p := pb.procs[i]
		pb.procs[i] = nil
		pb.mu.Unlock()
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				<-p.done
			}
		}()
	}
	wg.Wait()
	return nil
}

func (pb *ProcessBackend) Cleanup() {
	pb.mu.Lock()
	for i, p := range pb.procs {
		if p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			pb.procs[i] = nil
		}
	}
	for i, f := range pb.logs {
		if f != nil {
			f.Close()
			pb.logs[i] = nil
		}
	}
	pb.mu.Unlock()
	pb.teardownDisks()
	if pb.netns {
		pb.teardownNetns()
	}
}

func (pb *ProcessBackend) CollectLogs(dir string) error {
	for i := 1; i <= pb.n; i++ {
		name := fmt.Sprintf("broker%d.log", i)
		b, err := os.ReadFile(filepath.Join(pb.Dir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupNetns makes the bridge, one namespace per broker and the veths,
// under a lock so that concurrent runs pick different subnets.
func (pb *ProcessBackend) setupNetns() error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "longboat-chaos-netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	subnet, err := freeSubnet()
	if err != nil {
		return err
	}
	pb.subnet = subnet
	// The bridge lives in a namespace of its own: bridged frames then cross
	// that namespace's empty iptables, not the root namespace's (where
	// Docker sets FORWARD to DROP and br_netfilter is on), and nothing in
	// the root namespace's firewall changes.
	sw := pb.nsName(0)
	steps := [][]string{
		{"ip", "netns", "add", sw},
		{"ip", "netns", "exec", sw, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up"},
		// The observer's leg: the root namespace's end carries .1.
		{"ip", "link", "add", pb.vethHost(0), "type", "veth", "peer", "name", pb.vethNS(0)},
		{"ip", "link", "set", pb.vethNS(0), "netns", sw},
		{"ip", "netns", "exec", sw, "ip", "link", "set", pb.vethNS(0), "master", "br0", "up"},
		{"ip", "addr", "add", pb.hostIP() + "/24", "dev", pb.vethHost(0)},
		{"ip", "link", "set", pb.vethHost(0), "up"},
	}
	for i := 1; i <= pb.n; i++ {
		ns := pb.nsName(i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", pb.vethHost(i), "type", "veth", "peer", "name", pb.vethNS(i)},
			[]string{"ip", "link", "set", pb.vethHost(i), "netns", sw},
			[]string{"ip", "netns", "exec", sw, "ip", "link", "set", pb.vethHost(i), "master", "br0", "up"},
			[]string{"ip", "link", "set", pb.vethNS(i), "netns", ns},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
			[]string{"ip", "netns", "exec", ns, "ip", "addr", "add", pb.brokerIP(i) + "/24", "dev", pb.vethNS(i)},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", pb.vethNS(i), "up"},
		)
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			return err
		}
	}
	// Prove the path works both ways before trusting it.
	for i := 1; i <= pb.n; i++ {
		if err := probe(pb.nsName(i), pb.hostIP()); err != nil {
			return err
		}
	}
	return nil
}

// probe checks that namespace ns reaches the bridge address hostIP, by a
// TCP connection to a listener the observer opens on the bridge.
func probe(ns, hostIP string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		return fmt.Errorf("listen on bridge %s: %w", hostIP, err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	// bash's /dev/tcp needs no extra tool inside the namespace.
	return sh("ip", "netns", "exec", ns, "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/"+strings.ReplaceAll(l.Addr().String(), ":", "/"))
}

func (pb *ProcessBackend) teardownNetns() {
	// Deleting a namespace deletes the veths in it and their peers.
	for i := 0; i <= pb.n; i++ {
		killNetnsPids(pb.nsName(i))
		_ = sh("ip", "netns", "del", pb.nsName(i))
	}
	_ = sh("ip", "link", "del", pb.vethHost(0))
}

func killNetnsPids(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

var staleName = regexp.MustCompile(`^lbc(\d+)(?:-\d+|[hn]\d+)?$`)

// CleanupStale removes namespaces, bridges and veths of runs whose process
// is gone (a crashed or killed run), and the brokers still inside them.
func CleanupStale() {
	alive := func(run string) bool {
		pid, _ := strconv.Atoi(run)
		return pid > 0 && syscall.Kill(pid, 0) == nil && pid != os.Getpid()
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if m := staleName.FindStringSubmatch(f[0]); m != nil && !alive(m[1]) {
				killNetnsPids(f[0])
				_ = sh("ip", "netns", "del", f[0])
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
			if m := staleName.FindStringSubmatch(name); m != nil && !alive(m[1]) {
				_ = sh("ip", "link", "del", name)
			}
		}
	}
}

// freeSubnet picks 10.77.S.0/24 with no address on this host yet.
func freeSubnet() (string, error) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return "", err
	}
	for s := 1; s < 255; s++ {
		p := fmt.Sprintf("10.77.%d", s)
		if !strings.Contains(string(out), " "+p+".") {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free 10.77.x.0/24 subnet")
}

// freeLoopbackAddrs picks n free 127.0.0.1 ports in 20000-32767, below the
// ephemeral range so an outgoing connection cannot take one meanwhile.
func freeLoopbackAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free ports in 20000-32767")
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12768)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
