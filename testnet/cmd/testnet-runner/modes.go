package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/lokicall/lokicall/testnet/modes"
	"github.com/lokicall/lokicall/testnet/runner"
)

// runModes is `testnet-runner modes`: one call per connectivity mode on
// the testnet with the public network. It exits 0 when every scenario passed,
// 5 when one failed a check, 1 on any other error.
func runModes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("modes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	plan := modes.Plan{Public: modes.DefaultPublicNet}
	compose := fs.String("compose", strings.Join(append(append([]string(nil), runner.DefaultCompose...), "-f", "testnet/compose.public.yaml"), " "),
		"compose command with project and files (testnet/compose.public.yaml among them)")
	results := fs.String("results", "testnet/results", "host folder mounted at /results in the nodes")
	uid := fs.Int("uid", 7787, "numeric uid (and gid) lokicall runs as")
	fs.DurationVar(&plan.Duration, "duration", modes.DefaultDuration, "audio per call")
	only := fs.String("only", "", "comma-separated scenarios to run (onion, p2p, relay, fallback, fallback-refused; default all)")
	underlay := fs.String("underlay", modes.DefaultPublicNet.Underlay, "the underlay /24 of the compose files (nodes at .101, .102)")
	public := fs.String("public", modes.DefaultPublicNet.Prefix, "the public /24 of the compose files (TURN server at .2, nodes at .101, .102)")
	verbose := fs.Bool("v", false, "log the docker commands")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err1 := netip.ParsePrefix(*underlay)
	p, err2 := netip.ParsePrefix(*public)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(stderr, "testnet-runner: -underlay/-public:", err)
		return 2
	}
	pub, err := modes.PublicNetFor(u, p)
	if err != nil {
		fmt.Fprintln(stderr, "testnet-runner:", err)
		return 2
	}
	plan.Public = pub
	if *only != "" {
		plan.Only = strings.Split(*only, ",")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	r, err := newRunner(stderr, level, *results, &runner.Testnet{Compose: strings.Fields(*compose), UID: *uid})
	if err != nil {
		fmt.Fprintln(stderr, "testnet-runner:", err)
		return 1
	}
	mr := &modes.Runner{Testnet: r.Testnet, Results: r.Results, Progress: r.Progress, Logger: r.Logger}
	rep, err := mr.Run(ctx, plan)
	if rep != nil {
		printSummary(stdout, rep.Dir)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, modes.ErrFailed):
		fmt.Fprintln(stderr, "testnet-runner:", err)
		return 5
	}
	fmt.Fprintln(stderr, "testnet-runner:", err)
	return 1
}
