package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/history"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/signalling"
)

// TestHistoryCommand: newest first, --missed keeps the incoming calls
// nobody took, --limit bounds the list, --json gives the entries, and
// contacts are shown by name.
func TestHistoryCommand(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	alice, bob := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[contacts]\nalice = %q\n", alice)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := history.Store{Path: filepath.Join(state, "lokicall", history.FileName)}
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []struct {
		dir     history.Direction
		peer    string
		outcome history.Outcome
	}{
		{history.Outgoing, alice.String(), history.Completed},
		{history.Incoming, bob.String(), history.Missed},
		{history.Incoming, alice.String(), history.Rejected},
		{history.Incoming, bob.String(), history.Busy},
	} {
		start := t0.Add(time.Duration(i) * time.Hour)
		en := history.Entry{Direction: e.dir, Peer: e.peer, Start: start, End: start.Add(time.Minute), Outcome: e.outcome}
		if e.outcome == history.Completed {
			en.DurationMS = 42000
			en.Quality = &history.Quality{MOS: 4.3}
		}
		if err := s.Append(en); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code := run(t, nil, "--config", cfg, "history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "busy") || !strings.Contains(lines[3], "alice") ||
		!strings.Contains(lines[3], "0:42") || !strings.Contains(lines[3], "MOS 4.3") {
		t.Fatalf("history: exit %d, %q, %s", code, out, errs)
	}
	out, _, _ = run(t, nil, "--config", cfg, "history", "--missed")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(out, "missed") || strings.Contains(out, "rejected") {
		t.Errorf("history --missed: %q", out)
	}
	out, _, _ = run(t, nil, "--config", cfg, "--json", "history", "-n", "2")
	var got []historyJSON
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var h historyJSON
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("history --json line %q: %v", l, err)
		}
		got = append(got, h)
	}
	if len(got) != 2 || got[0].Outcome != history.Busy || got[1].Outcome != history.Rejected || got[1].Name != "alice" {
		t.Errorf("history --json -n 2: %+v", got)
	}
	if _, _, code := run(t, nil, "--config", cfg, "history", "-n", "-1"); code != exitUsage {
		t.Errorf("--limit -1: exit %d, want %d", code, exitUsage)
	}
}

// TestHistoryOff: "enabled = false" under [history] stops recording.
func TestHistoryOff(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	path := filepath.Join(state, "lokicall", history.FileName)
	for _, c := range []struct {
		conf string
		want bool
	}{{"[history]\nenabled = false\n", false}, {"", true}} {
		cfg := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(cfg, []byte(c.conf), 0o600); err != nil {
			t.Fatal(err)
		}
		g := &globalOptions{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{},
			env: func(string) (string, bool) { return "", false }}
		cmd := newRootCommand(g)
		cmd.SetArgs([]string{"--config", cfg, "history"})
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		g.recordCall(historyEntry(history.Incoming, lokinettest.RandomAddress().String(), time.Now(), nil, history.Missed, signalling.ReasonTimeout))
		_, err := os.Stat(path)
		if recorded := err == nil; recorded != c.want {
			t.Errorf("config %q: recorded %v, want %v", c.conf, recorded, c.want)
		}
	}
}

func TestHistoryOutcomes(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason string
		talked time.Duration
		want   history.Outcome
	}{
		{nil, signalling.ReasonCompleted, time.Minute, history.Completed},
		{fmt.Errorf("x: %w", call.ErrBusy), signalling.ReasonBusy, 0, history.Busy},
		{fmt.Errorf("x: %w", call.ErrRejected), call.ReasonNotContact, 0, history.Rejected},
		{fmt.Errorf("x: %w", call.ErrTimeout), signalling.ReasonTimeout, 0, history.NoAnswer},
		{context.Canceled, signalling.ReasonCancelled, 0, history.Cancelled},
		{fmt.Errorf("x: %w", call.ErrUnreachable), "", 0, history.Failed},
	} {
		if got := outgoingOutcome(c.err, c.reason, c.talked); got != c.want {
			t.Errorf("outgoing %v/%s: %s, want %s", c.err, c.reason, got, c.want)
		}
	}
	for _, c := range []struct {
		err    error
		reason string
		want   history.Outcome
	}{
		{nil, signalling.ReasonCompleted, history.Completed},
		{fmt.Errorf("x: %w", call.ErrCallerHungUp), signalling.ReasonCancelled, history.Missed},
		{fmt.Errorf("x: %w", call.ErrTimeout), signalling.ReasonTimeout, history.Missed},
		{fmt.Errorf("x: %w", call.ErrRejected), call.ReasonNotContact, history.Rejected},
		{errors.New("boom"), signalling.ReasonError, history.Failed},
	} {
		if got := incomingOutcome(c.err, c.reason); got != c.want {
			t.Errorf("incoming %v/%s: %s, want %s", c.err, c.reason, got, c.want)
		}
	}
}
