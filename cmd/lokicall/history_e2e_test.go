package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/history"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

// e2eNode is one lokicall node of a multi-process test: its address, its
// Lokinet-like DNS server, its configuration file and its state directory.
type e2eNode struct {
	name  string
	addr  lokinet.Address
	ip    netip.Addr
	dns   *lokinettest.Server
	cfg   string
	state string
}

// env is the process environment of n: no user settings, its own state
// directory.
func (n *e2eNode) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOKICALL_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_STATE_HOME="+n.state, "LOKICALL_CONFIG="+n.cfg)
}

// command is a lokicall process of n; its stdout and stderr are collected.
func (n *e2eNode) command(ctx context.Context, exe string, args ...string) (*exec.Cmd, *safeBuffer, *safeBuffer) {
	cmd := exec.CommandContext(ctx, exe, append([]string{"--lokinet-dns", n.dns.Addr()}, args...)...)
	cmd.Env = n.env()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, stderr := &safeBuffer{}, &safeBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// run runs a lokicall process of n to its end and returns its exit code.
func (n *e2eNode) run(t *testing.T, ctx context.Context, exe string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd, out, errb := n.command(ctx, exe, args...)
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	t.Logf("%s %v: exit %d; stderr: %s", n.name, args, code, strings.TrimSpace(errb.String()))
	return out.String(), errb.String(), code
}

// e2eNodes makes a callee and callers, each DNS server knowing the
// callee and the callee's knowing everyone (PTR), on 127.77.base.x.
func e2eNodes(t *testing.T, base int, names ...string) []*e2eNode {
	t.Helper()
	nodes := make([]*e2eNode, len(names))
	for i, name := range names {
		nodes[i] = &e2eNode{name: name, addr: lokinettest.RandomAddress(),
			ip: netip.MustParseAddr("127.77." + strconv.Itoa(base) + "." + strconv.Itoa(i+1)), state: t.TempDir(),
			cfg: filepath.Join(t.TempDir(), "config.toml")}
	}
	for i, n := range nodes {
		peers := map[string]netip.Addr{}
		for j, o := range nodes {
			if i != j && (i == 0 || j == 0) {
				peers[o.addr.String()] = o.ip
			}
		}
		srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: n.addr, SelfIP: n.ip, Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		n.dns = srv
		if err := os.WriteFile(n.cfg, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// readHistory returns n's history, newest first, through lokicall history
// --json.
func (n *e2eNode) readHistory(t *testing.T, ctx context.Context, exe string) []historyJSON {
	t.Helper()
	out, _, code := n.run(t, ctx, exe, "--json", "history", "--limit", "0")
	if code != 0 {
		t.Fatalf("%s: history: exit %d", n.name, code)
	}
	var got []historyJSON
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var h historyJSON
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatalf("%s: history line %q: %v", n.name, sc.Text(), err)
		}
		got = append(got, h)
	}
	raw, err := os.ReadFile(filepath.Join(n.state, "lokicall", history.FileName))
	if err == nil && strings.Contains(string(raw), "127.") {
		t.Errorf("%s: the history file holds an IP address:\n%s", n.name, raw)
	}
	return got
}

// TestE2EPingAndHistory: a listener in contacts mode answers a contact's
// ping and refuses a stranger's as it refuses the stranger's call; then
// a completed call, a busy one, a rejected one and a missed one between
// real processes leave the expected history on every side, with no IP.
func TestE2EPingAndHistory(t *testing.T) {
	exe := buildLokicall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes := e2eNodes(t, 62, "bob", "alice", "carol", "eve")
	bob, alice, carol, eve := nodes[0], nodes[1], nodes[2], nodes[3]
	if err := os.WriteFile(bob.cfg, []byte("[contacts]\nalice = \""+alice.addr.String()+"\"\ncarol = \""+carol.addr.String()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t, bob.ip)
	target := bob.addr.String() + ":" + strconv.Itoa(port)

	// bob answers contacts, headless.
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	listen, lout, _ := bob.command(lctx, exe, "--json", "listen", "--accept", "contacts", "--port", strconv.Itoa(port), "--in", "silence", "--out", "null")
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	listenDone := make(chan error, 1)
	go func() { listenDone <- listen.Wait() }()
	waitOutput(t, ctx, lout, `"event":"listening"`)

	// Ping: the contact gets replies, the stranger a rejected call's answer.
	out, _, code := alice.run(t, ctx, exe, "--json", "ping", target, "--count", "3", "--interval", "100ms")
	if code != 0 || !regexp.MustCompile(`"event":"ping","peer":"`+bob.addr.String()+`".*"sent":3,"received":3`).MatchString(out) {
		t.Errorf("contact's ping: exit %d, %s", code, out)
	}
	_, errs, code := eve.run(t, ctx, exe, "ping", target, "--count", "2")
	if code != exitRejected || !strings.Contains(errs, "takes calls only from contacts") {
		t.Errorf("stranger's ping: exit %d (want %d), %q", code, exitRejected, errs)
	}
	if strings.Contains(lout.String(), `"event":"caller"`) {
		t.Error("a probe rang the listener")
	}

	// A completed call, and a busy one while it lasts.
	talk, _, _ := alice.command(ctx, exe, "call", target, "--in", "tone:440", "--out", "null", "--duration", "8s")
	if err := talk.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, ctx, lout, `"state":"active"`)
	if _, _, code := carol.run(t, ctx, exe, "call", target, "--in", "silence", "--out", "null"); code != exitBusy {
		t.Errorf("carol's call during alice's: exit %d, want %d", code, exitBusy)
	}
	if err := talk.Wait(); err != nil {
		t.Errorf("alice's call: %v", err)
	}
	// A rejected one.
	if _, _, code := eve.run(t, ctx, exe, "call", target, "--in", "silence", "--out", "null"); code != exitRejected {
		t.Errorf("eve's call: exit %d, want %d", code, exitRejected)
	}
	stopListen()
	<-listenDone

	// A missed one: bob asks on a terminal and nobody answers.
	t.Setenv("XDG_STATE_HOME", bob.state)
	ring := startPty(t, ctx, "bob", exe, "--config", bob.cfg, "--lokinet-dns", bob.dns.Addr(), "listen", "--accept", "ask",
		"--ring-timeout", "2s", "--calls", "1", "--port", strconv.Itoa(port), "--in", "silence", "--out", "null")
	ring.waitFor(ctx, 0, regexp.MustCompile(`listening as`))
	if _, _, code := alice.run(t, ctx, exe, "call", target, "--in", "silence", "--out", "null"); code != exitTimeout {
		t.Errorf("alice's unanswered call: exit %d, want %d", code, exitTimeout)
	}
	ring.wait(ctx)

	type want struct {
		dir     history.Direction
		peer    lokinet.Address
		outcome history.Outcome
	}
	check := func(n *e2eNode, wants ...want) {
		got := n.readHistory(t, ctx, exe)
		if len(got) != len(wants) {
			t.Errorf("%s: %d calls in the history, want %d: %+v", n.name, len(got), len(wants), got)
			return
		}
		for i, w := range wants {
			g := got[i]
			if g.Direction != w.dir || g.Peer != w.peer.String() || g.Outcome != w.outcome {
				t.Errorf("%s: call %d: %s %s %s, want %s %s %s", n.name, i, g.Direction, g.Peer, g.Outcome, w.dir, w.peer, w.outcome)
			}
			if (g.Outcome == history.Completed) != (g.Quality != nil && g.Duration() >= 3*time.Second) {
				t.Errorf("%s: call %d (%s): duration %v, quality %+v", n.name, i, g.Outcome, g.Duration(), g.Quality)
			}
		}
	}
	// Newest first: bob recorded carol's busy call during alice's, before
	// alice's ended.
	check(bob, want{history.Incoming, alice.addr, history.Missed}, want{history.Incoming, eve.addr, history.Rejected},
		want{history.Incoming, alice.addr, history.Completed}, want{history.Incoming, carol.addr, history.Busy})
	check(alice, want{history.Outgoing, bob.addr, history.NoAnswer}, want{history.Outgoing, bob.addr, history.Completed})
	check(carol, want{history.Outgoing, bob.addr, history.Busy})
	check(eve, want{history.Outgoing, bob.addr, history.Rejected})
	if names := bob.readHistory(t, ctx, exe); len(names) > 0 && names[0].Name != "alice" {
		t.Errorf("bob's history names alice %q", names[0].Name)
	}
}

// waitOutput waits until out holds pattern.
func waitOutput(t *testing.T, ctx context.Context, out *safeBuffer, pattern string) {
	t.Helper()
	for !strings.Contains(out.String(), pattern) {
		select {
		case <-ctx.Done():
			t.Fatalf("%q did not appear: %v\n%s", pattern, ctx.Err(), out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
