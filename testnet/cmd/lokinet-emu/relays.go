package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lokicall/lokicall/testnet/onion"
)

// runRelays prints the directory's relay list as one JSON object: how many
// relays are listed (those that beat within the listing window) and where
// each receives.
func runRelays(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("relays", flag.ContinueOnError)
	dir := fs.String("directory", "http://directory:8080", "directory URL")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	list, err := (&onion.DirectoryClient{URL: *dir}).Relays(ctx)
	if err != nil {
		return fmt.Errorf("relays: %w", err)
	}
	out := struct {
		Count  int      `json:"count"`
		Relays []string `json:"relays"`
	}{Count: len(list), Relays: []string{}}
	for _, r := range list {
		out.Relays = append(out.Relays, r.Addr.String())
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fmt.Errorf("relays: %w", err)
	}
	return nil
}
