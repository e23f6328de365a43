package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/lokicall/lokicall/testnet/leak"
)

// runLeakCheck installs (-reset) or reads the leak counters of one uid in
// this namespace and prints them as one JSON line. It exits 1 (after
// printing) when -fail is set and a packet leaked.
func runLeakCheck(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("leakcheck", flag.ContinueOnError)
	uid := fs.Uint("uid", leak.DefaultUID, "uid whose packets are counted")
	iface := fs.String("iface", leak.DefaultInterface, "Lokinet's interface: packets into it are allowed")
	resolver := fs.String("resolver", leak.DefaultResolver.String(), "Lokinet's DNS address: packets to it over loopback are allowed")
	reset := fs.Bool("reset", false, "(re)install the counters at zero")
	fail := fs.Bool("fail", false, "exit non-zero if any packet leaked")
	if err := parse(fs, args); err != nil {
		return err
	}
	ip, err := netip.ParseAddr(*resolver)
	if err != nil {
		return fmt.Errorf("leakcheck: -resolver: %w", err)
	}
	cfg := leak.Config{UID: uint32(*uid), Interface: *iface, Resolver: ip}
	if *reset {
		if err := leak.Install(cfg); err != nil {
			return err
		}
	}
	c, err := leak.Read(cfg)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(c); err != nil {
		return fmt.Errorf("leakcheck: %w", err)
	}
	if *fail && c.Leak() {
		return exitError{1}
	}
	return nil
}

// runLeak is the negative control of the leak proof: it deliberately sends
// UDP datagrams to an address outside Lokinet (run it under lokicall's uid).
func runLeak(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("leak", flag.ContinueOnError)
	to := fs.String("to", "10.89.0.11:1090", "where to send, outside Lokinet")
	count := fs.Int("count", 3, "datagrams to send")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := net.Dial("udp", *to)
	if err != nil {
		return fmt.Errorf("leak: %w", err)
	}
	defer c.Close()
	for i := range *count {
		if _, err := c.Write([]byte("lokicall-testnet negative control")); err != nil {
			return fmt.Errorf("leak: %w", err)
		}
		if i+1 < *count {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	log.Info("sent deliberately outside Lokinet", "to", *to, "count", *count)
	fmt.Fprintf(stdout, "sent %d datagrams to %s\n", *count, *to)
	return nil
}
