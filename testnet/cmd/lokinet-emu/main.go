// Command lokinet-emu runs one role of the emulated Lokinet testnet:
//
//	lokinet-emu directory [flags]          the bootstrap: relay list and introductions
//	lokinet-emu relay [flags]              a relay with link emulation
//	lokinet-emu node [flags] [-- CMD ...]  a client daemon (lokitun0, DNS on 127.3.2.1:53),
//	                                       then CMD (e.g. lokicall) as its child
//	lokinet-emu ctl [flags] CMD ...        control a running node: cut, restart, loss, status
//	lokinet-emu whoami [flags]             this node's address, as lokicall whoami finds it
//	lokinet-emu wait [flags]               return once this node has a path (found through DNS)
//	lokinet-emu udpecho [flags]            a UDP echo server on the Lokinet address
//	lokinet-emu udpping [flags] ADDR[:PORT] UDP round trips to another node by name
//	lokinet-emu leakcheck [flags]          leak counters of one uid (nftables), as JSON
//	lokinet-emu leak [flags]               negative control: UDP sent outside Lokinet
//	lokinet-emu turn [flags]               a STUN/TURN server counting packets by source
//	lokinet-emu turnstats [flags]          a turn server's counters, as JSON
//	lokinet-emu nftcount [flags]           nftables counters by address (and drops), as JSON
//	lokinet-emu procstat [flags]           memory and CPU time of lokicall's processes (/proc), as JSON
//	lokinet-emu relays [flags]             the directory's relay list, as JSON
//
// Run "lokinet-emu ROLE -h" for a role's flags.
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
	"syscall"
)

type command struct {
	name  string
	brief string
	run   func(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error
}

var commands = []command{
	{"directory", "the bootstrap directory", runDirectory},
	{"relay", "a relay", runRelay},
	{"node", "a client node, optionally followed by -- CMD ARGS", runNode},
	{"ctl", "control a running node: cut DURATION | restart [-down D] | loss DURATION RATE | status", runCtl},
	{"whoami", "print this node's address", runWhoami},
	{"wait", "wait until this node has a path", runWait},
	{"udpecho", "UDP echo server", runUDPEcho},
	{"udpping", "UDP round trips to another node", runUDPPing},
	{"leakcheck", "install or read the leak counters of lokicall's uid", runLeakCheck},
	{"leak", "negative control: send UDP outside Lokinet", runLeak},
	{"turn", "STUN/TURN server (pion/turn) counting packets by source", runTURN},
	{"turnstats", "read (and -reset) a turn server's counters", runTURNStats},
	{"nftcount", "nftables counters by source/destination, optional drops", runNFTCount},
	{"procstat", "resident memory and CPU time of processes by name, from /proc", runProcStat},
	{"relays", "the directory's relay list", runRelays},
}

// errUsage is returned for bad command lines; the flag package has already
// said what is wrong.
var errUsage = errors.New("usage")

// exitError carries a child's exit code through.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lokinet-emu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, newLogger(stderr))
		}
	}
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: lokinet-emu ROLE [flags]")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.brief)
	}
}

// newLogger logs text, or JSON when LOKINET_EMU_LOG=json, at info level, or
// debug when LOKINET_EMU_DEBUG is set.
func newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if os.Getenv("LOKINET_EMU_DEBUG") != "" {
		opts.Level = slog.LevelDebug
	}
	if os.Getenv("LOKINET_EMU_LOG") == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parse parses flags, mapping -h and errors to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return nil
}
