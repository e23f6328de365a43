package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/demo"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// buildLokicall builds the command once for the end-to-end tests, which run
// real lokicall processes. They are long, so they run only with
// LOKICALL_E2E=1 (make e2e).
func buildLokicall(t *testing.T) string {
	t.Helper()
	if os.Getenv("LOKICALL_E2E") == "" {
		t.Skip("end-to-end test: set LOKICALL_E2E=1 (make e2e)")
	}
	// The test's calls stay out of the developer's call history.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	exe := filepath.Join(t.TempDir(), "lokicall")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return exe
}

// TestE2ETwoProcessCall: two lokicall processes, each with its own
// Lokinet-like DNS server, complete call/listen; the callee's WAV holds the
// caller's 440 Hz tone for the call's duration and its --json output names
// the caller's .loki address.
func TestE2ETwoProcessCall(t *testing.T) {
	exe := buildLokicall(t)
	wav := filepath.Join(t.TempDir(), "received.wav")
	const talk = 4 * time.Second
	res, err := demo.Run(context.Background(), demo.Options{
		Executable: exe, Duration: talk, ReceivedWAV: wav,
		Progress: func(role, line string) { t.Logf("%s: %s", role, line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, ev := range res.Callee.Events {
		if ev.Kind == call.EventCaller && ev.Peer == res.Caller.Address.String() {
			named = true
		}
	}
	if !named {
		t.Errorf("callee's --json never named the caller %s", res.Caller.Address)
	}
	if res.Caller.Stats == nil || res.Callee.Stats == nil {
		t.Fatal("a side reported no statistics")
	}
	if math.Abs(res.ReceivedSeconds-talk.Seconds()) > 0.6 {
		t.Errorf("callee recorded %.2f s of a %.0f s call", res.ReceivedSeconds, talk.Seconds())
	}
	pcm, rate, err := media.ReadWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	// The tone must be there throughout, not just on average: check every
	// half second after the jitter buffer has started.
	win := rate / 2
	for i := 0; i+win <= len(pcm); i += win {
		f := media.DominantFrequency(pcm[i:i+win], rate)
		if math.Abs(f-440) > 5 {
			t.Errorf("at %.1f s the callee heard %.1f Hz, want 440", float64(i)/float64(rate), f)
		}
	}
}

// TestE2EExitCodes: failures reach the user as distinct exit codes and one
// line on stderr.
func TestE2EExitCodes(t *testing.T) {
	exe := buildLokicall(t)
	self := lokinettest.RandomAddress()
	srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: self, SelfIP: demo.CallerIP})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	unknown := lokinettest.RandomAddress().String()
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"bad address", []string{"call", "not-an-address.loki.example"}, exitUsage},
		{"bad spec", []string{"--lokinet-dns", srv.Addr(), "call", unknown, "--in", "tone:abc"}, exitUsage},
		{"unknown flag", []string{"call", "--nope"}, exitUsage},
		{"no lokinet", []string{"--lokinet-dns", "127.0.0.1:9", "whoami"}, exitNoLokinet},
		{"unknown peer", []string{"--lokinet-dns", srv.Addr(), "call", unknown, "--in", "tone:440", "--out", "null"}, exitUnreachable},
		{"bad frame", []string{"--lokinet-dns", srv.Addr(), "call", unknown, "--in", "tone:440", "--out", "null", "--frame", "30ms"}, exitUsage},
		{"p2p without consent", []string{"--lokinet-dns", srv.Addr(), "call", unknown, "--in", "tone:440", "--out", "null", "--mode", "p2p"}, exitUsage},
		{"bad turn server", []string{"--lokinet-dns", srv.Addr(), "call", unknown, "--in", "tone:440", "--out", "null", "--mode", "relay", "--allow-ip-exposure", "--turn", "turn:example.org"}, exitUsage},
	}
	if src, err := media.OpenSource(media.Spec{Kind: media.KindDevice}, media.Options{}); err != nil {
		cases = append(cases, struct {
			name string
			args []string
			code int
		}{"no sound card", []string{"--lokinet-dns", srv.Addr(), "listen", "--in", "device"}, exitAudio})
	} else {
		_ = src.Close()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, exe, tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "lokicall: ") {
				t.Errorf("stderr is not one line: %q", stderr.String())
			}
		})
	}
}
