// Command testnet-runner makes measured lokicall calls through the docker
// compose testnet (make testnet-up first):
//
//	testnet-runner call      one call alice → bob, results copied out
//	testnet-runner ci        one 20 s call, the leak proof and its negative control
//	testnet-runner measure   a loopback baseline, K calls, sweeps, a relay killed mid-call,
//	                         Lokinet's dynamics and a short soak: the full report
//	testnet-runner stall|trace|outage|daemon-restart|handshake-loss
//	                         one of the dynamics scenarios alone, with the leak proof
//	testnet-runner modes     one call per connectivity mode (onion, p2p, relay, fallback)
//	                         with testnet/compose.public.yaml's STUN/TURN server
//	testnet-runner soak      one long call through swaps, path expiry, a relay kill and a
//	                         daemon restart; lokicall's memory, CPU and goroutines over time
//
// Results go to testnet/results/<date>-<name>-<params>/ (summary.md, run.json,
// calls.csv, interruptions.csv, plots). A call that fails is a result,
// reported with its cause: the runner exits 0 when the testnet ran and no
// lokicall packet left outside lokitun0, 3 on a leak, 4 when the negative
// control was not caught, 1 when the testnet could not run or (with
// -strict, as ci) a call failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lokicall/lokicall/testnet/runner"
)

type sweepFlags []runner.Sweep

func (s *sweepFlags) String() string { return fmt.Sprint(*s) }
func (s *sweepFlags) Set(v string) error {
	sw, err := runner.ParseSweep(v)
	if err != nil {
		return err
	}
	*s = append(*s, sw)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "modes" {
		return runModes(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "soak" {
		return runSoak(ctx, args[1:], stdout, stderr)
	}
	commands := append([]string{"call", "ci", "measure"}, runner.DynamicNames...)
	if len(args) == 0 || !slices.Contains(commands, args[0]) {
		fmt.Fprintf(stderr, "usage: testnet-runner %s|modes|soak [flags]\n", strings.Join(commands, "|"))
		return 2
	}
	mode := args[0]
	plan := runner.Plan{Name: mode, Base: runner.DefaultParams, Calls: 1, Duration: 10 * time.Second}
	var sweeps, defaultSweeps sweepFlags
	dynamics := ""
	switch mode {
	case "call":
	case "ci":
		plan.Duration, plan.NegativeControl, plan.Strict = 20*time.Second, true, true
	case "measure":
		plan.Calls, plan.Duration, plan.SweepCalls, plan.NegativeControl, plan.KillAt = 5, 20*time.Second, 2, true, 8*time.Second
		plan.Loopback, plan.Soak = 3, 3*time.Minute
		for _, s := range []string{"hops=1,2,3,4", "delay=0ms,30ms", "jitter=10ms", "loss=0.02", "pairs=2,3,4"} {
			_ = defaultSweeps.Set(s)
		}
		dynamics = "all"
	default: // a dynamics scenario alone
		plan.NoBase, plan.NegativeControl, dynamics = true, true, mode
	}
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	compose := fs.String("compose", strings.Join(runner.DefaultCompose, " "), "compose command with project and file")
	results := fs.String("results", "testnet/results", "host folder mounted at /results in the nodes")
	uid := fs.Int("uid", 7787, "numeric uid (and gid) lokicall runs as: the leak counters count its packets")
	fs.IntVar(&plan.Calls, "calls", plan.Calls, "calls at the base parameters (K)")
	fs.DurationVar(&plan.Duration, "duration", plan.Duration, "length of each call (T)")
	fs.IntVar(&plan.Base.Hops, "hops", plan.Base.Hops, "base: relays per path")
	fs.DurationVar(&plan.Base.Delay, "delay", plan.Base.Delay, "base: per-link one-way delay")
	fs.DurationVar(&plan.Base.Jitter, "jitter", plan.Base.Jitter, "base: per-link jitter (uniform ±)")
	fs.Float64Var(&plan.Base.Loss, "loss", plan.Base.Loss, "base: per-link loss probability")
	fs.IntVar(&plan.Base.Concurrent, "concurrent", plan.Base.Concurrent, "base: simultaneous calls alice → bob")
	fs.IntVar(&plan.Loopback, "loopback", plan.Loopback, "loopback baseline: calls between two lokicall processes on the host, no network (0: none)")
	lokicall := fs.String("lokicall", "testnet/build/lokicall", "lokicall executable on the host, for the loopback baseline")
	traces := fs.String("traces", "testnet/traces", "host folder of the trace files the image holds in /traces (for the trace scenario's spikes)")
	pairsFile := fs.String("pairs-file", "testnet/compose.pairs.yaml", "compose override with the extra node pairs (carol → dave, ...) for -sweep pairs=N")
	noSweeps := fs.Bool("no-sweeps", false, "drop the default sweeps")
	fs.Var(&sweeps, "sweep", "vary one parameter: hops=1,2,3,4 | delay=0ms,30ms | jitter=... | loss=... | concurrent=... | pairs=2,3,4 (repeatable)")
	fs.IntVar(&plan.SweepCalls, "sweep-calls", plan.SweepCalls, "calls per sweep point (0: as -calls)")
	fs.DurationVar(&plan.KillAt, "kill-at", plan.KillAt, "add a call during which a relay on alice's path is killed this long after audio starts (0: none)")
	fs.BoolVar(&plan.NegativeControl, "negative-control", plan.NegativeControl, "leak on purpose at the end: the leak proof must catch it")
	fs.StringVar(&dynamics, "dynamics", dynamics, "Lokinet's dynamics scenarios, one call each: all, none or a list of "+strings.Join(runner.DynamicNames, ","))
	fs.DurationVar(&plan.Soak, "soak", plan.Soak, "add a soak of this length (swaps, path expiry, a relay kill, a daemon restart; resources sampled) after the dynamics, reported in the run's soak/ folder (0: none)")
	fs.BoolVar(&plan.Strict, "strict", plan.Strict, "a failed call fails the run (exit 1); without it a failed call is reported with its cause")
	verbose := fs.Bool("v", false, "log the docker commands")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	dyn, err := runner.ParseDynamics(dynamics, plan.Base)
	if err != nil {
		fmt.Fprintln(stderr, "testnet-runner: -dynamics:", err)
		return 2
	}
	plan.Dynamics = dyn
	if plan.NoBase && len(dyn) == 1 {
		plan.Duration = dyn[0].Duration // names the run's folder
	}
	if !*noSweeps { // the mode's sweeps, then the ones given explicitly
		sweeps = append(defaultSweeps, sweeps...)
	}
	plan.Sweeps = sweeps
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	r, err := newRunner(stderr, level, *results, &runner.Testnet{Compose: strings.Fields(*compose), UID: *uid, PairsFile: *pairsFile})
	if err != nil {
		fmt.Fprintln(stderr, "testnet-runner:", err)
		return 1
	}
	r.Lokicall, r.Traces = *lokicall, *traces
	rep, err := r.Run(ctx, plan)
	if rep != nil {
		printSummary(stdout, rep.Dir)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, runner.ErrLeak):
		fmt.Fprintln(stderr, "testnet-runner: LEAK:", err)
		return 3
	case errors.Is(err, runner.ErrControlMissed):
		fmt.Fprintln(stderr, "testnet-runner: the negative control was not caught: the leak proof is broken")
		return 4
	}
	fmt.Fprintln(stderr, "testnet-runner:", err)
	return 1
}

// progress prints one line per step with the elapsed time and an estimate
// of what remains.
func progress(w io.Writer) func(runner.Progress) {
	return func(p runner.Progress) {
		eta := "?"
		if p.Step > 1 {
			eta = (p.Elapsed / time.Duration(p.Step-1) * time.Duration(p.Total-p.Step+1)).Round(time.Second).String()
		}
		bar := strings.Repeat("#", 20*(p.Step-1)/max(1, p.Total)) + strings.Repeat(".", 20-20*(p.Step-1)/max(1, p.Total))
		fmt.Fprintf(w, "[%s] %3d/%d %7s elapsed, ~%s left  %s: %s\n", bar, p.Step, p.Total, p.Elapsed.Round(time.Second), eta, p.Scenario, p.What)
	}
}

// newRunner makes a Runner that logs to stderr at level and writes its
// results under results.
func newRunner(stderr io.Writer, level slog.Level, results string, tn *runner.Testnet) (*runner.Runner, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	abs, err := filepath.Abs(results)
	if err != nil {
		return nil, err
	}
	tn.Logger = log
	return &runner.Runner{Testnet: tn, Results: abs, Logger: log, Progress: progress(stderr)}, nil
}

// printSummary shows a run's summary.md, if it wrote one.
func printSummary(stdout io.Writer, dir string) {
	if dir == "" {
		return
	}
	if b, err := os.ReadFile(filepath.Join(dir, "summary.md")); err == nil {
		fmt.Fprintf(stdout, "%s\n(written to %s)\n", b, dir)
	}
}
