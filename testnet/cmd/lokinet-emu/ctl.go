package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/lokicall/lokicall/testnet/node"
)

const ctlUsage = `usage: lokinet-emu ctl [-ctl SOCKET] COMMAND
  cut DURATION          drop all of the node's onion traffic, both ways, for DURATION
  restart [-down 3s]    emulate a daemon restart: lokitun0 and DNS gone for -down,
                        paths, sessions and mappings forgotten, same address after
  loss DURATION RATE    drop each of the node's onion packets with probability RATE
  status                the node's state, as one JSON object`

// runCtl sends one command to a running node over its control socket.
func runCtl(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	sock := fs.String("ctl", node.DefaultControlSocket, "the node's control socket")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), ctlUsage); fs.PrintDefaults() }
	if err := parse(fs, args); err != nil {
		return err
	}
	req, err := ctlRequest(fs.Args())
	if err != nil {
		fmt.Fprintln(fs.Output(), "lokinet-emu ctl:", err)
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := node.SendControl(ctx, *sock, req)
	if err != nil {
		return err
	}
	out := any(reply)
	if reply.Status != nil {
		out = reply.Status
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// ctlRequest turns the command line into a request; the node checks it.
func ctlRequest(args []string) (node.ControlRequest, error) {
	if len(args) == 0 {
		return node.ControlRequest{}, fmt.Errorf("no command")
	}
	r := node.ControlRequest{Cmd: args[0]}
	rest := args[1:]
	switch r.Cmd {
	case node.CtlCut:
		if len(rest) != 1 {
			return r, fmt.Errorf("cut takes one DURATION")
		}
		r.Duration = rest[0]
	case node.CtlLoss:
		if len(rest) != 2 {
			return r, fmt.Errorf("loss takes DURATION RATE")
		}
		rate, err := strconv.ParseFloat(rest[1], 64)
		if err != nil {
			return r, fmt.Errorf("loss rate %q: %w", rest[1], err)
		}
		r.Duration, r.Rate = rest[0], rate
	case node.CtlRestart:
		fs := flag.NewFlagSet("restart", flag.ContinueOnError)
		down := fs.Duration("down", node.DefaultRestartDown, "how long the daemon stays down")
		if err := fs.Parse(rest); err != nil {
			return r, err
		}
		if fs.NArg() != 0 {
			return r, fmt.Errorf("restart takes only -down")
		}
		r.Duration = down.String()
	case node.CtlStatus:
		if len(rest) != 0 {
			return r, fmt.Errorf("status takes no arguments")
		}
	default:
		return r, fmt.Errorf("unknown command %q", r.Cmd)
	}
	return r, nil
}
