package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

// run executes the command line in-process with the given environment.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	code = g.execute(context.Background(), args)
	return out.String(), errb.String(), code
}

func TestContactsCommands(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	alice := lokinettest.RandomAddress()
	if _, errs, code := run(t, nil, "--config", cfg, "contacts", "add", "alice", alice.String()); code != 0 {
		t.Fatalf("add: exit %d: %s", code, errs)
	}
	// LOKICALL_CONFIG names the file when --config does not.
	out, _, code := run(t, map[string]string{"LOKICALL_CONFIG": cfg}, "contacts", "list")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, alice.String()) {
		t.Errorf("list: exit %d, %q", code, out)
	}
	if _, _, code := run(t, nil, "--config", cfg, "contacts", "add", "bob", "bob.example"); code != exitUsage {
		t.Errorf("add with a bad address: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := run(t, nil, "--config", cfg, "contacts", "rm", "carol"); code != exitUsage {
		t.Errorf("rm of an unknown name: exit %d, want %d", code, exitUsage)
	}
	out, _, _ = run(t, nil, "--config", cfg, "--json", "contacts", "rm", "alice")
	if !strings.Contains(out, `"event":"contact-removed"`) {
		t.Errorf("rm --json: %q", out)
	}
	if out, _, _ := run(t, nil, "--config", cfg, "contacts"); !strings.Contains(out, "no contacts") {
		t.Errorf("list after rm: %q", out)
	}
}

func TestBadConfigIsAUsageError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("[contacts]\nbob = \"nope\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, nil, "--config", cfg, "contacts", "list")
	if code != exitUsage || !strings.Contains(errs, "bob") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// TestSettingsPrecedence: flags > environment > config file > defaults.
func TestSettingsPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(`
[audio]
in = "tone:300"
out = "file:x.wav"
bitrate = 16000
[call]
ring_timeout = "20s"
[listen]
accept = "contacts"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LOKICALL_RING_TIMEOUT": "30s", "LOKICALL_BITRATE": "24000"}
	g := &globalOptions{stdin: strings.NewReader(""), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer),
		env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	root := newRootCommand(g)
	listen, _, err := root.Find([]string{"listen"})
	if err != nil {
		t.Fatal(err)
	}
	if err := listen.ParseFlags([]string{"--config", cfg, "--bitrate", "48000"}); err != nil {
		t.Fatal(err)
	}
	if err := g.loadSettings(listen); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bitrate":      "48000",    // flag beats env and file
		"ring-timeout": "30s",      // env beats file
		"in":           "tone:300", // file beats default
		"accept":       "contacts",
		"port":         "7787", // default
	}
	for name, v := range want {
		if got := listen.Flags().Lookup(name).Value.String(); got != v {
			t.Errorf("--%s = %q, want %q", name, got, v)
		}
	}
	env["LOKICALL_PORT"] = "many"
	listen.Flags().Lookup("port").Changed = false
	if err := g.loadSettings(listen); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "LOKICALL_PORT") {
		t.Errorf("bad environment value: %v", err)
	}
}

func TestResolveTarget(t *testing.T) {
	alice := lokinettest.RandomAddress()
	g := &globalOptions{config: &config.File{Contacts: map[string]string{"alice": alice.String()}}}
	for arg, want := range map[string]string{
		"alice":      alice.String(),
		"Alice:7788": alice.String() + ":7788",
		"bob.loki":   "bob.loki",
	} {
		tg, err := g.resolveTarget(arg)
		if err != nil || tg.String() != want {
			t.Errorf("resolveTarget(%q) = %v, %v; want %s", arg, tg, err, want)
		}
	}
	if _, err := g.resolveTarget("carol"); err == nil || !strings.Contains(err.Error(), "neither a contact") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestEndSentences(t *testing.T) {
	caller := []struct {
		e    callEnd
		want string
		code int
	}{
		{callEnd{peer: "bob", err: call.ErrBusy, reason: "busy"}, "bob is busy", exitBusy},
		{callEnd{peer: "bob", err: fmt.Errorf("%w: callee did not answer", call.ErrTimeout), reason: "timeout", rang: 45 * time.Second}, "no answer from bob after 45s", exitTimeout},
		{callEnd{peer: "bob", err: fmt.Errorf("%w: declined", call.ErrRejected), reason: "declined"}, "bob declined the call", exitRejected},
		{callEnd{peer: "bob", err: fmt.Errorf("%w: x", call.ErrRejected), reason: call.ReasonNotContact}, "bob takes calls only from contacts", exitRejected},
		{callEnd{peer: "bob", err: context.Canceled, userHung: true}, "you hung up before bob answered", exitInterrupted},
		{callEnd{peer: "bob", talked: 83 * time.Second}, "call with bob ended after 1:23", exitOK},
		{callEnd{peer: "bob", talked: 8 * time.Second, by: call.EndedByPeer}, "bob hung up; the call lasted 0:08", exitOK},
		{callEnd{peer: "bob", talked: 8 * time.Second, userHung: true, by: call.EndedByLocal}, "you hung up; the call with bob lasted 0:08", exitOK},
		{callEnd{peer: "bob", err: fmt.Errorf("%w: no audio for 1m0s", call.ErrMediaLost), reason: "media-lost", talked: 83 * time.Second},
			"the audio with bob stopped and did not come back; the call ended after 1:23", exitMediaFailed},
		{callEnd{peer: "bob", err: fmt.Errorf("%w: no audio for 59s", call.ErrLokinetRestarted), reason: "lokinet-restarted", talked: 83 * time.Second},
			"Lokinet restarted and the audio with bob did not come back; the call ended after 1:23", exitMediaFailed},
	}
	for _, tc := range caller {
		msg, err := callerSentence(tc.e)
		if err != nil {
			msg = err.Error()
		}
		if !strings.HasPrefix(msg, tc.want) || exitCode(err) != tc.code {
			t.Errorf("caller %+v: %q (exit %d), want %q (exit %d)", tc.e, msg, exitCode(err), tc.want, tc.code)
		}
	}
	callee := []struct {
		e    callEnd
		want string
		out  call.Outcome
	}{
		{callEnd{peer: "alice", err: call.ErrCallerHungUp, reason: "cancelled", rang: 12 * time.Second}, "missed call from alice: the caller hung up after 12s of ringing", call.OutcomeMissed},
		{callEnd{peer: "alice", err: fmt.Errorf("%w: timeout", call.ErrRejected), reason: "timeout", rang: 45 * time.Second}, "missed call from alice: no answer after 45s", call.OutcomeMissed},
		{callEnd{peer: "x.loki", err: fmt.Errorf("%w: n", call.ErrRejected), reason: call.ReasonNotContact}, "rejected call from x.loki: not in contacts", call.OutcomeRejected},
		{callEnd{peer: "alice", talked: 5 * time.Second, userHung: true}, "you hung up; the call with alice lasted 0:05", call.OutcomeAnswered},
		{callEnd{peer: "alice", talked: 5 * time.Second, by: call.EndedByPeer}, "alice hung up; the call lasted 0:05", call.OutcomeAnswered},
		{callEnd{peer: "alice", err: fmt.Errorf("%w: x", call.ErrMediaLost), reason: "media-lost", talked: 5 * time.Second},
			"the audio with alice stopped and did not come back; the call ended after 0:05", call.OutcomeFailed},
		{callEnd{peer: "alice", err: fmt.Errorf("%w: x", call.ErrLokinetRestarted), reason: "lokinet-restarted", talked: 5 * time.Second},
			"Lokinet restarted and the audio with alice did not come back; the call ended after 0:05", call.OutcomeFailed},
		// Accepted, then failed before audio: answered (and failed), never
		// a missed call.
		{callEnd{peer: "alice", err: fmt.Errorf("%w: the caller hung up before audio started (completed)", call.ErrMediaFailed), reason: "completed"},
			"call from alice failed: media path failed: the caller hung up before audio started (completed)", call.OutcomeAnswered},
	}
	for _, tc := range callee {
		msg, out := calleeSentence(tc.e)
		if msg != tc.want || out != tc.out {
			t.Errorf("callee %+v: %q, %s; want %q, %s", tc.e, msg, out, tc.want, tc.out)
		}
	}
}

// ttyBuffer is a fake terminal screen that signals every write.
type ttyBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes chan string
}

func (b *ttyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	select {
	case b.writes <- string(p):
	default:
	}
	return len(p), nil
}

func (b *ttyBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func fakeTerminal() (*terminal, *ttyBuffer) {
	b := &ttyBuffer{writes: make(chan string, 64)}
	return &terminal{out: b, outTTY: true, outFD: -1, in: os.Stdin}, b
}

func TestTerminalKeepsStatusLineBelowOutput(t *testing.T) {
	tm, b := fakeTerminal()
	tm.setStatus("● active 0:01")
	fmt.Fprintln(tm, "a line")
	tm.clearStatus()
	want := clearLine + "● active 0:01" + clearLine + "a line\n" + "● active 0:01" + clearLine
	if got := b.String(); got != want {
		t.Errorf("screen %q, want %q", got, want)
	}
}

func TestStatusLineFields(t *testing.T) {
	tm, _ := fakeTerminal()
	var muted atomic.Bool
	g := &globalOptions{term: tm, config: &config.File{}}
	s := newCallScreen(g, &muted)
	peer := lokinettest.RandomAddress().String()
	start := time.Now()
	s.event(call.Event{Kind: call.EventState, State: call.StateActive, Peer: peer, Time: start})
	s.setLive(liveFigures{RTT: 152 * time.Millisecond, Jitter: 4 * time.Millisecond, JitterBuffer: 60 * time.Millisecond,
		LossPercent: 1.5, MOS: 4.1, MicDBFS: -20})
	s.key('m')
	line := s.line(start.Add(83 * time.Second))
	for _, f := range []string{"● active 1:23", shortAddress(peer), "rtt 152ms", "jitter 4ms", "loss 1.5%", "buffer 60ms", "MOS 4.1", "mic ▮▮▮▯▯ -20dB", "[MUTED]", "m unmute"} {
		if !strings.Contains(line, f) {
			t.Errorf("status line %q lacks %q", line, f)
		}
	}
	if !muted.Load() {
		t.Error("m did not mute")
	}
	hung := false
	s.hangUp = func() { hung = true }
	s.key('q')
	if !hung || !s.userHungUp() {
		t.Error("q did not hang up")
	}
}

func TestPrompt(t *testing.T) {
	for _, tc := range []struct {
		key  byte
		want bool
	}{{'y', true}, {'n', false}, {'\r', false}, {'x', false}} {
		tm, b := fakeTerminal()
		g := &globalOptions{term: tm, config: &config.File{}}
		l := &listener{g: g}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res := make(chan bool, 1)
		go func() { a, _ := l.prompt(ctx, lokinettest.RandomAddress()); res <- a }()
		for w := range b.writes {
			if strings.Contains(w, "answer? [y/N]") {
				break
			}
		}
		tm.keyMu.Lock()
		h := tm.onKey
		tm.keyMu.Unlock()
		h(tc.key)
		if tc.key == 'x' {
			// Not an answer: the prompt waits until the ring ends.
			cancel()
		}
		if got := <-res; got != tc.want {
			t.Errorf("key %q: answer %v, want %v", tc.key, got, tc.want)
		}
		cancel()
		tm.keyMu.Lock()
		if tm.onKey != nil {
			t.Errorf("key %q: the prompt left its key handler behind", tc.key)
		}
		tm.keyMu.Unlock()
	}
}

func TestAcceptNeedsTerminalToAsk(t *testing.T) {
	_, errs, code := run(t, nil, "--config", filepath.Join(t.TempDir(), "c.toml"), "listen", "--accept", "ask")
	if code != exitUsage || !strings.Contains(errs, "terminal") {
		t.Errorf("exit %d, %q", code, errs)
	}
	if _, _, code := run(t, nil, "--config", filepath.Join(t.TempDir(), "c.toml"), "listen", "--accept", "maybe"); code != exitUsage {
		t.Errorf("--accept maybe: exit %d", code)
	}
}

// TestStatusLineInterruption: while the call reports an interruption the
// status line says so with its length, and returns to the figures when the
// audio is back.
func TestStatusLineInterruption(t *testing.T) {
	tm, _ := fakeTerminal()
	var muted atomic.Bool
	g := &globalOptions{term: tm, config: &config.File{}}
	s := newCallScreen(g, &muted)
	peer := lokinettest.RandomAddress().String()
	start := time.Now()
	s.event(call.Event{Kind: call.EventState, State: call.StateActive, Peer: peer, Time: start})
	s.event(call.Event{Kind: call.EventInterruption, Peer: peer, Time: start.Add(11 * time.Second),
		Interruption: &call.Interruption{Phase: call.InterruptionStarted, SilentMS: 1000}})
	want := "⚠ no audio from " + shortAddress(peer) + " for 4s — reconnecting"
	if line := s.line(start.Add(14 * time.Second)); !strings.HasPrefix(line, want) {
		t.Errorf("status line %q, want it to start with %q", line, want)
	}
	// This node's Lokinet goes away, then comes back.
	s.event(call.Event{Kind: call.EventProgress, Peer: peer, Time: start.Add(14 * time.Second), Reason: call.ProgressLokinetDown})
	want = "⚠ no audio from " + shortAddress(peer) + " for 4s — waiting for Lokinet to come back"
	if line := s.line(start.Add(14 * time.Second)); !strings.HasPrefix(line, want) {
		t.Errorf("status line %q, want it to start with %q", line, want)
	}
	s.event(call.Event{Kind: call.EventProgress, Peer: peer, Time: start.Add(14 * time.Second), Reason: call.ProgressLokinetBack})
	want = "⚠ no audio from " + shortAddress(peer) + " for 4s — reconnecting"
	if line := s.line(start.Add(14 * time.Second)); !strings.HasPrefix(line, want) {
		t.Errorf("status line %q once Lokinet is back, want it to start with %q", line, want)
	}
	s.event(call.Event{Kind: call.EventInterruption, Peer: peer, Time: start.Add(15 * time.Second),
		Interruption: &call.Interruption{Phase: call.InterruptionEnded, GapMS: 5000}})
	if line := s.line(start.Add(16 * time.Second)); !strings.HasPrefix(line, "● active 0:16") {
		t.Errorf("status line after the interruption %q, want the active line", line)
	}
}

// TestListenerLokinetLines: the listener's own news of Lokinet is printed
// as a line, and does not change the status line of the call in progress,
// which follows the daemon on its own.
func TestListenerLokinetLines(t *testing.T) {
	tm, b := fakeTerminal()
	g := &globalOptions{term: tm, config: &config.File{}}
	l := &listener{g: g, w: newEventWriter(g)}
	peer := lokinettest.RandomAddress().String()
	start := time.Now()
	l.event(call.Event{Kind: call.EventCaller, CallID: "c1", Peer: peer, Time: start})
	defer l.screen.stopRun()
	l.event(call.Event{Kind: call.EventState, CallID: "c1", State: call.StateActive, Peer: peer, Time: start})
	msg := "Lokinet went away; waiting for it to come back (interface lokitun0)"
	l.event(call.Event{Kind: call.EventProgress, Reason: call.ProgressLokinetDown, Message: msg, Time: start.Add(time.Second)})
	if !strings.Contains(b.String(), msg+"\n") {
		t.Errorf("screen %q, want the line %q", b.String(), msg)
	}
	if l.screen.lokinetDown {
		t.Error("the listener's lokinet-down changed the call's status line")
	}
	l.event(call.Event{Kind: call.EventProgress, CallID: "c1", Reason: call.ProgressLokinetDown, Peer: peer, Time: start.Add(time.Second)})
	if !l.screen.lokinetDown {
		t.Error("the call's own lokinet-down did not reach its status line")
	}
}
