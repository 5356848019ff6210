// Command longboat-chaos runs the fault-injection suite against a
// three-broker (or, for the reassign nemesis, four-broker) Longboat cluster and exits non-zero on any anomaly; the
// workload, the faults and what is checked are in docs/CHAOS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/longboat/longboat/internal/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	backend := flag.String("backend", "process", "process (brokers as local processes) or docker (the Compose stack, already up)")
	netns := flag.Bool("netns", true, "process backend: one network namespace per broker, so partitions are possible (needs root)")
	duration := flag.Duration("duration", 150*time.Second, "length of the faulty phase (30m or more for the long form)")
	seed := flag.Uint64("seed", 0, "schedule seed (0: from the clock; printed so the run can be repeated)")
	out := flag.String("out", "", "output directory (default chaos-out/<time>-seed<seed>)")
	bin := flag.String("bin", "", "longboat binary (default: go build ./cmd/longboat into the output directory)")
	partitions := flag.Int("partitions", 6, "partitions of the test topic")
	rate := flag.Int("rate", 150, "records/s per producer")
	producers := flag.Int("producers", 2, "idempotent producers")
	faultMin := flag.Duration("fault-min", 2*time.Second, "shortest fault")
	faultMax := flag.Duration("fault-max", 5*time.Second, "longest fault")
	longMin := flag.Duration("long-fault-min", 15*time.Second, "long-kill: shortest outage")
	longMax := flag.Duration("long-fault-max", 30*time.Second, "long-kill: longest outage")
	diskSize := flag.Int64("disk-size", 0, "process backend: give each broker a loop-mounted ext4 image of this many bytes as its data directory (root); adds the disk-full and io-error nemeses to the default set")
	quietMin := flag.Duration("quiet-min", 2*time.Second, "shortest calm between faults (after --grace)")
	quietMax := flag.Duration("quiet-max", 4*time.Second, "longest calm between faults")
	grace := flag.Duration("grace", 4*time.Second, "after recovery, time for leaders to move back before calm is counted as steady")
	steady := flag.Bool("steady", false, "no faults: steady load for --duration, counting leadership changes")
	brokerFlags := flag.String("broker-flags", "--leader-balance-interval=1s", "extra flags for every `longboat serve` (space-separated)")
	kinds := flag.String("kinds", "", "comma-separated nemeses to use (default: all the backend supports; disk-full and io-error only with --disk-size): "+strings.Join(chaos.AllKinds, ","))
	brokers := flag.Int("brokers", 0, "process backend: brokers (3 or 4; default 3, or 4 when --kinds names reassign); the three first are the initial members, a fourth joins with --join and the topics keep RF 3, so partitions can move")
	minEvents := flag.Int("min-events", 0, "fail the run when fewer nemesis events ran (CI: 10)")
	keepData := flag.Bool("keep-data", false, "keep the brokers' data directories of a passing run (a failing run always keeps them)")
	dockerPrefix := flag.String("docker-prefix", "longboat-broker", "docker backend: container N is PREFIX<N>")
	dockerNet := flag.String("docker-network", "longboat-net", "docker backend: the stack's network")
	dockerKafka := flag.Int("docker-kafka-port", 9092, "docker backend: broker N's Kafka port on localhost is this + N - 1")
	dockerHTTP := flag.Int("docker-http-port", 13092, "docker backend: broker N's HTTP port on localhost is this + N - 1")
	check := flag.String("check", "", "only check an existing history.jsonl and print the anomalies")
	flag.Parse()

	if *check != "" {
		ops, err := chaos.ReadHistory(*check)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		res := &chaos.Result{Backend: "(history " + *check + ")", Report: chaos.Check(ops)}
		chaos.PrintSummary(os.Stdout, res)
		if !res.Passed() {
			return 1
		}
		return 0
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano() % 1_000_000)
	}
	if *out == "" {
		*out = filepath.Join("chaos-out", fmt.Sprintf("%s-seed%d", time.Now().UTC().Format("20060102T150405"), *seed))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("longboat-chaos: seed %d, duration %s, output %s\n", *seed, *duration, *out)

	var onlyKinds []string
	if *kinds != "" {
		onlyKinds = strings.Split(*kinds, ",")
		for _, k := range onlyKinds {
			if !slices.Contains(chaos.AllKinds, k) {
				fmt.Fprintf(os.Stderr, "unknown nemesis %q; known: %s\n", k, strings.Join(chaos.AllKinds, ","))
				return 2
			}
		}
	}
	var b chaos.Backend
	switch *backend {
	case "process":
		if *bin == "" {
			*bin = filepath.Join(*out, "longboat")
			fmt.Println("building longboat...")
			if o, err := exec.Command("go", "build", "-o", *bin, "./cmd/longboat").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build ./cmd/longboat (run from the repository root or pass --bin): %v\n%s", err, o)
				return 2
			}
		}
		dataDir := filepath.Join(*out, "data")
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		// The group-leader nemesis moves group shards through this endpoint.
		extra := append(strings.Fields(*brokerFlags), "--debug-leader-transfer")
		n := *brokers
		if n == 0 {
			n = 3
			if slices.Contains(onlyKinds, chaos.Reassign) {
				n = 4
			}
		}
		if n != 3 && n != 4 {
			fmt.Fprintf(os.Stderr, "--brokers %d: 3 or 4\n", n)
			return 2
		}
		pb, err := chaos.NewProcessBackend(*bin, dataDir, n, *netns, extra)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		pb.Initial = 3
		pb.DiskBytes = *diskSize
		b = pb
	case "docker":
		db := chaos.NewDockerBackend(3)
		db.Prefix, db.Network, db.KafkaPort, db.HTTPPort = *dockerPrefix, *dockerNet, *dockerKafka, *dockerHTTP
		b = db
	default:
		fmt.Fprintf(os.Stderr, "unknown --backend %q\n", *backend)
		return 2
	}
	defer b.Cleanup()
	if len(onlyKinds) == 0 && *diskSize > 0 {
		onlyKinds = append(chaos.Kinds(b), chaos.DiskFull, chaos.IOError)
	}
	for _, k := range onlyKinds {
		if why := chaos.Supported(b, k); why != "" {
			fmt.Fprintf(os.Stderr, "nemesis %s %s\n", k, why)
			return 2
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Println("interrupted: healing, draining and checking what ran so far (interrupt again to abort)")
		cancel()
		<-sig
		b.Cleanup()
		os.Exit(3)
	}()

	res, err := chaos.Run(ctx, chaos.Config{
		Backend: b, OutDir: *out, Seed: *seed, Duration: *duration, Nemesis: !*steady,
		Topic: "chaos", Partitions: int32(*partitions), Rate: *rate, Producers: *producers,
		Fault: [2]time.Duration{*faultMin, *faultMax}, LongFault: [2]time.Duration{*longMin, *longMax}, Quiet: [2]time.Duration{*quietMin, *quietMax},
		Grace: *grace, Kinds: onlyKinds, Progress: os.Stdout,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "longboat-chaos: %v\n", err)
		_ = b.CollectLogs(*out)
		return 2
	}
	if ran := len(res.Schedule); ran < *minEvents {
		res.Errors = append(res.Errors, fmt.Sprintf("only %d nemesis events ran, --min-events %d", ran, *minEvents))
	}
	fmt.Println()
	chaos.PrintSummary(os.Stdout, res)
	if res.Passed() && *backend == "process" && !*keepData {
		b.Cleanup() // unmounts the brokers' disks first
		_ = os.RemoveAll(filepath.Join(*out, "data"))
	}
	fmt.Printf("\nhistory, schedule, broker logs and summary in %s\n", *out)
	if !res.Passed() {
		return 1
	}
	return 0
}
