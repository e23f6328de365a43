package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/lokicall/lokicall/testnet/runner"
)

// runSoak is `testnet-runner soak`: one long call through the testnet's
// dynamics, lokicall's resources sampled along the way. It exits 0 when
// the call completed and nothing leaked, 3 on a leak, 1 otherwise (a
// series that is not flat is reported, not an error).
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", time.Hour, "length of the call")
	compose := fs.String("compose", strings.Join(runner.DefaultCompose, " "), "compose command with project and file")
	results := fs.String("results", "testnet/results", "host folder mounted at /results in the nodes")
	uid := fs.Int("uid", 7787, "numeric uid (and gid) lokicall runs as")
	swap := fs.String("session-swap", "", "the nodes' -session-swap (default force)")
	lifetime := fs.Duration("path-lifetime", 0, "the nodes' -path-lifetime (default min(10m, duration/4))")
	killAt := fs.Duration("kill-at", 0, "kill a relay on alice's path this long after the call went active (default 40 % of the call; negative: none)")
	restartAt := fs.Duration("restart-at", 0, "restart bob's daemon this long after the call went active (default 70 %; negative: none)")
	sample := fs.Duration("sample", 0, "sampling interval (default 10s)")
	verbose := fs.Bool("v", false, "log the docker commands")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	plan := runner.DefaultSoakPlan(*duration)
	if *swap != "" {
		plan.SessionSwap = *swap
	}
	for _, o := range []struct {
		flag time.Duration
		dst  *time.Duration
	}{{*lifetime, &plan.PathLifetime}, {*killAt, &plan.KillAt}, {*restartAt, &plan.RestartAt}, {*sample, &plan.Sample}} {
		switch {
		case o.flag < 0:
			*o.dst = 0
		case o.flag > 0:
			*o.dst = o.flag
		}
	}
	r, err := newRunner(stderr, logLevel(*verbose), *results, &runner.Testnet{Compose: strings.Fields(*compose), UID: *uid})
	if err == nil {
		var sr *runner.SoakReport
		if sr, err = r.Soak(ctx, plan); sr != nil && sr.Run != nil {
			printSummary(stdout, sr.Run.Dir)
		}
	}
	if errors.Is(err, runner.ErrLeak) {
		fmt.Fprintln(stderr, "testnet-runner: LEAK:", err)
		return 3
	} else if err != nil {
		fmt.Fprintln(stderr, "testnet-runner:", err)
		return 1
	}
	return 0
}

// logLevel is the runner's log level: debug (the docker commands) if
// verbose.
func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
