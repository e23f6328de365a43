package main

import (
	"path/filepath"
	"testing"

	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

func TestPingUsage(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	addr := lokinettest.RandomAddress().String()
	for _, args := range [][]string{
		{"ping", addr, "--count", "0"},
		{"ping", addr, "--count", "11"},
		{"ping", addr, "--interval", "0s"},
		{"ping", "not-an-address.example"},
		{"ping"},
	} {
		if _, _, code := run(t, nil, append([]string{"--config", cfg, "--lokinet-dns", "127.0.0.1:9"}, args...)...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
