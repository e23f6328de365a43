package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/tones"
)

// TestProgressEvent: a slow lookup's event carries the time it happened and
// the peer's name without the DNS root dot.
func TestProgressEvent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := progressEvent(lokinet.ProgressEvent{Name: "bob.loki.", Attempt: 2, Elapsed: 3 * time.Second, Reason: "SERVFAIL"}, now)
	if !ev.Time.Equal(now) || ev.Peer != "bob.loki" || strings.Contains(ev.Message, "loki.") {
		t.Errorf("progress event %+v", ev)
	}
}

// openFDs counts this process's descriptors open on path.
func openFDs(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestStampFilesClosed: the stamp files are closed at the end, and the
// first is closed when the second cannot be created.
func TestStampFilesClosed(t *testing.T) {
	dir := t.TempDir()
	capture, playout := filepath.Join(dir, "capture.csv"), filepath.Join(dir, "playout.csv")
	o := &callOptions{captureStamps: capture, playoutStamps: playout}
	if _, _, err := o.stampTaps(); err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t, capture) + openFDs(t, playout); n != 2 {
		t.Fatalf("%d stamp files open, want 2", n)
	}
	if err := o.closeStamps(); err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t, capture) + openFDs(t, playout); n != 0 {
		t.Errorf("%d stamp files still open after closeStamps", n)
	}

	o = &callOptions{captureStamps: capture, playoutStamps: filepath.Join(dir, "missing", "playout.csv")}
	if _, _, err := o.stampTaps(); err == nil || !strings.Contains(err.Error(), "--playout-stamps") {
		t.Fatalf("uncreatable playout stamps: %v", err)
	}
	if n := openFDs(t, capture); n != 0 {
		t.Errorf("the capture stamp file leaked after the playout one failed")
	}
}

// withoutSoundCard makes the audio system of this process find no sound
// card: an ALSA configuration that defines no PCM, no PulseAudio server.
func withoutSoundCard(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "alsa.conf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", empty)
	t.Setenv("PULSE_SERVER", "unix:"+filepath.Join(t.TempDir(), "none"))
}

// TestNoSoundCardFailsBeforeDialling: call and listen default to the sound
// card; without one, and without --in/--out, they stop before looking for
// Lokinet (a dead resolver would give exit 3) with one line saying how to
// choose a file or tone. Told otherwise, they go on to Lokinet.
func TestNoSoundCardFailsBeforeDialling(t *testing.T) {
	withoutSoundCard(t)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	peer := "55fxz5q8k8nsk5ae4ejaobzqfeubodsg8ai8tcn3kzdbxkx6rbjo.loki"
	for _, args := range [][]string{
		{"call", peer},
		{"call", peer, "--in", "tone:440"},
		{"listen", "--accept", "auto", "--out", "null"},
	} {
		_, stderr, code := run(t, nil, append([]string{"--config", cfg, "--lokinet-dns", "127.0.0.1:9"}, args...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitAudio || len(lines) != 1 || !strings.Contains(stderr, "no sound card") || !strings.Contains(stderr, "--in file:") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line on choosing audio", args, code, stderr, exitAudio)
		}
	}
	_, stderr, code := run(t, nil, "--config", cfg, "--lokinet-dns", "127.0.0.1:9", "call", peer, "--in", "tone:440", "--out", "null")
	if code != exitNoLokinet {
		t.Errorf("with --in and --out: exit %d (%s), want %d: no sound card needed", code, stderr, exitNoLokinet)
	}
}

// TestBellFor: the terminal bell stands in for the ring only when the
// output is not a device, at the plan's ring cadence.
func TestBellFor(t *testing.T) {
	plan, err := tones.Lookup("uk")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  call.Config
		want bellMode
	}{
		{call.Config{Tones: plan, Out: media.Spec{Kind: media.KindDevice}}, bellMode{}},
		{call.Config{Tones: plan, Out: media.Spec{Kind: media.KindNull}}, bellMode{ring: true, every: 3 * time.Second}},
		{call.Config{Out: media.Spec{Kind: media.KindDevice}}, bellMode{ring: true}},
	}
	for _, tc := range cases {
		if got := bellFor(tc.cfg); got != tc.want {
			t.Errorf("bellFor(tones %v, out %v) = %+v, want %+v", tc.cfg.Tones != nil, tc.cfg.Out, got, tc.want)
		}
	}
}
