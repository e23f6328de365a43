//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// runNFTCount needs nftables: Linux only.
func runNFTCount(context.Context, []string, io.Writer, *slog.Logger) error {
	return errors.New("nftcount: nftables counters need Linux")
}
