package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// callEvent is the part of lokicall's --json events the outage test reads
// (the interruption events and counters of the call's interface contract).
type callEvent struct {
	Time         time.Time `json:"time"`
	Event        string    `json:"event"`
	State        string    `json:"state"`
	Reason       string    `json:"reason"`
	Interruption *struct {
		Phase        string   `json:"phase"`
		SilentMS     float64  `json:"silent_ms"`
		GapMS        float64  `json:"gap_ms"`
		RecoveryRTTs *float64 `json:"recovery_rtts"`
	} `json:"interruption"`
	Live *struct {
		FramesPlayed    uint64   `json:"frames_played"`
		FramesConcealed uint64   `json:"frames_concealed"`
		WindowS         *float64 `json:"window_s"`
	} `json:"live"`
	Stats *struct {
		Interruptions *int     `json:"interruptions"`
		InterruptedMS *float64 `json:"interrupted_ms"`
		PathRTTMS     float64  `json:"path_rtt_ms"`
		Recoveries    int      `json:"recoveries"`
	} `json:"stats"`
}

// lokicallProc is one lokicall process in a node's namespace, its --json
// events collected.
type lokicallProc struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	events []callEvent
	lines  []string
	done   chan struct{}
	err    error
}

func buildLokicall(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "lokicall")
	out, err := exec.Command("go", "build", "-o", exe, "github.com/lokicall/lokicall/cmd/lokicall").CombinedOutput()
	if err != nil {
		t.Fatalf("build lokicall: %v\n%s", err, out)
	}
	return exe
}

// lokicall starts lokicall in host's namespace, with the user's LOKICALL_*
// settings, config file and call history kept out.
func (tb *testbed) lokicall(t *testing.T, exe, name, host string, args ...string) *lokicallProc {
	t.Helper()
	home := filepath.Join(tb.dir, name+"-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", tb.ns(host), exe, "--json"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOKICALL_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") &&
			!strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_STATE_HOME="+filepath.Join(home, ".local", "state"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	p := &lokicallProc{name: name, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var ev callEvent
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event != "" {
				p.events = append(p.events, ev)
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		p.mu.Lock()
		p.lines = append(p.lines, "stderr: "+stderr.String())
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *lokicallProc) snapshot() []callEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]callEvent(nil), p.events...)
}

func (p *lokicallProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitState waits until the process reports state.
func (p *lokicallProc) waitState(t *testing.T, state string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, ev := range p.snapshot() {
			if ev.Event == "state" && ev.State == state {
				return ev.Time
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, state, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s not %s within %v:\n%s", p.name, state, timeout, p.output())
	return time.Time{}
}

// outage is a time the path was down: from start until the network was
// back at end.
type outage struct {
	what       string
	start, end time.Time
}

// checkOutages checks one side's events against the outages: an
// interruption starts within 2 s of each outage and ends (audio back)
// within 3 s of its end. It also logs, from the live events, when played
// audio came back without concealment.
func checkOutages(t *testing.T, p *lokicallProc, outages []outage) {
	t.Helper()
	evs := p.snapshot()
	for _, o := range outages {
		var started, ended *callEvent
		for i := range evs {
			ev := &evs[i]
			if ev.Event != "interruption" || ev.Interruption == nil || ev.Time.Before(o.start.Add(-100*time.Millisecond)) {
				continue
			}
			if ev.Interruption.Phase == "started" && started == nil {
				started = ev
			}
			if ev.Interruption.Phase == "ended" && started != nil && ended == nil {
				ended = ev
			}
		}
		switch {
		case started == nil:
			t.Errorf("%s, %s: no interruption event (started)", p.name, o.what)
		case started.Time.Sub(o.start) > 2*time.Second:
			t.Errorf("%s, %s: interruption reported %v after the outage began, want within 2 s", p.name, o.what, started.Time.Sub(o.start))
		default:
			t.Logf("%s, %s: interruption reported %v after the outage began", p.name, o.what, started.Time.Sub(o.start).Round(time.Millisecond))
		}
		switch {
		case ended == nil:
			t.Errorf("%s, %s: no interruption event (ended)", p.name, o.what)
		case ended.Time.Sub(o.end) > 3*time.Second || ended.Time.Before(o.end):
			t.Errorf("%s, %s: audio back %v after the network was (gap %.0f ms), want within 3 s", p.name, o.what, ended.Time.Sub(o.end), ended.Interruption.GapMS)
		default:
			rtts := "unknown"
			if r := ended.Interruption.RecoveryRTTs; r != nil {
				rtts = fmt.Sprintf("%.1f", *r)
			}
			t.Logf("%s, %s: audio back %v after the network was = %s path RTTs of %.0f ms (gap %.0f ms; %s RTTs from the path's first packet back, as the call tells it)",
				p.name, o.what, ended.Time.Sub(o.end).Round(time.Millisecond), inRTTs(ended.Time.Sub(o.end), pathRTT(evs)), pathRTT(evs),
				ended.Interruption.GapMS, rtts)
		}
		// Evidence independent of the interruption events: the first
		// live report after the outage in which at most a fifth of the
		// frames played in its second were concealed (cumulative
		// counters only: a windowed report says window_s).
		var prev *callEvent
		for i := range evs {
			ev := &evs[i]
			if ev.Event != "live" || ev.Live == nil || ev.Live.WindowS != nil {
				continue
			}
			if prev != nil && ev.Time.After(o.end) {
				played := ev.Live.FramesPlayed - prev.Live.FramesPlayed
				concealed := ev.Live.FramesConcealed - prev.Live.FramesConcealed
				if played > 0 && concealed*5 <= played {
					t.Logf("%s, %s: live reports show audio without concealment again %v after the network was back",
						p.name, o.what, ev.Time.Sub(o.end).Round(time.Millisecond))
					break
				}
			}
			prev = ev
		}
	}
}

// checkCompleted checks that the call ran to its end on this side: exit
// status 0 and final statistics.
func checkCompleted(t *testing.T, p *lokicallProc, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Errorf("%s still running %v after the call should have ended", p.name, timeout)
		return
	}
	var reason string
	stats := false
	for _, ev := range p.snapshot() {
		if ev.Event == "state" && ev.State == "ended" {
			reason = ev.Reason
		}
		if ev.Event == "stats" && ev.Stats != nil {
			stats = true
			if ev.Stats.Interruptions != nil && ev.Stats.InterruptedMS != nil {
				t.Logf("%s: %d interruptions, %.0f ms interrupted, %d restarts, path RTT %.0f ms", p.name, *ev.Stats.Interruptions,
					*ev.Stats.InterruptedMS, ev.Stats.Recoveries, ev.Stats.PathRTTMS)
			}
		}
	}
	if p.err != nil || !stats {
		t.Errorf("%s did not complete the call: %v, end reason %q, final stats %v; output:\n%s", p.name, p.err, reason, stats, tail(p.output(), 40))
		return
	}
	t.Logf("%s completed the call (end reason %q)", p.name, reason)
}

// pathRTT is the call's path round trip in ms from its final statistics;
// 0 when unknown.
func pathRTT(evs []callEvent) float64 {
	for _, ev := range evs {
		if ev.Event == "stats" && ev.Stats != nil {
			return ev.Stats.PathRTTMS
		}
	}
	return 0
}

func inRTTs(d time.Duration, rttMS float64) string {
	if rttMS <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(d.Milliseconds())/rttMS)
}

// checkProgress checks that p reported progress reason within limit of at.
func checkProgress(t *testing.T, p *lokicallProc, reason string, at time.Time, limit time.Duration) {
	t.Helper()
	for _, ev := range p.snapshot() {
		if ev.Event == "progress" && ev.Reason == reason && !ev.Time.Before(at) {
			if d := ev.Time.Sub(at); d > limit {
				t.Errorf("%s: %s %v after the restart, want within %v", p.name, reason, d, limit)
			} else {
				t.Logf("%s: %s %v after the restart", p.name, reason, d.Round(time.Millisecond))
			}
			return
		}
	}
	t.Errorf("%s: no %s progress event after the restart", p.name, reason)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// TestOnionNetworkInNamespacesOutage is the outage check in the emulated
// network, with real lokicall processes: one call with alice's
// onion traffic cut for 8 s and later for 40 s (lokinet-emu ctl cut), one
// with alice's and then bob's daemon restarted (ctl restart). On each side, the
// interruption must appear in --json within 2 s of the outage, audio must
// be back within 3 s of the network's return, and the call must complete.
// After each restart that side's lokicall must also say that Lokinet went
// away (lokinet-down within 2 s) and came back (lokinet-back). LOKICALL_E2E=1 and
// root run it (make e2e).
func TestOnionNetworkInNamespacesOutage(t *testing.T) {
	tb := newTestbed(t)
	exe := buildLokicall(t, tb.dir)
	nodes, addr := tb.network(t, []string{"alice", "bob"})
	start := func(t *testing.T, port int, talk time.Duration) (caller, callee *lokicallProc) {
		t.Helper()
		callee = tb.lokicall(t, exe, fmt.Sprintf("bob-%d", port), "bob", "listen", "--accept", "auto", "--calls", "1",
			"--port", fmt.Sprint(port), "--in", "tone:660", "--out", "null")
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(callee.output(), `"listening"`) {
			if time.Now().After(deadline) {
				t.Fatalf("callee not listening:\n%s", callee.output())
			}
			time.Sleep(100 * time.Millisecond)
		}
		caller = tb.lokicall(t, exe, fmt.Sprintf("alice-%d", port), "alice", "call", fmt.Sprintf("%s:%d", addr["bob"], port),
			"--in", "tone:440", "--out", "null", "--duration", talk.String())
		caller.waitState(t, "active", 30*time.Second)
		callee.waitState(t, "active", 10*time.Second)
		return caller, callee
	}

	t.Run("path cut 8 s and 40 s", func(t *testing.T) {
		const talk = 80 * time.Second
		caller, callee := start(t, 7787, talk)
		var outages []outage
		time.Sleep(5 * time.Second)
		for _, d := range []time.Duration{8 * time.Second, 40 * time.Second} {
			at := time.Now()
			tb.ctlCmd(t, "alice", "cut", d.String())
			outages = append(outages, outage{fmt.Sprintf("cut of %v", d), at, at.Add(d)})
			time.Sleep(d + 10*time.Second)
		}
		// The call talks for 80 s of audio: what the cuts took comes on top.
		checkCompleted(t, caller, talk+10*time.Second)
		checkCompleted(t, callee, 15*time.Second)
		checkOutages(t, caller, outages)
		checkOutages(t, callee, outages)
	})

	t.Run("daemon restarts", func(t *testing.T) {
		const (
			talk = 45 * time.Second
			down = 3 * time.Second
		)
		caller, callee := start(t, 7788, talk)
		// restart restarts name's daemon and returns once it is back
		// with a path: the network is back then.
		restart := func(name string) outage {
			from := len(strings.Split(nodes[name].log(), "\n")) - 1
			at := time.Now()
			tb.ctlCmd(t, name, "restart", "-down", down.String())
			nodes[name].wait(t, regexp.MustCompile(`msg="daemon restarted"`), from, down+10*time.Second)
			nodes[name].wait(t, reBuilt, from, 15*time.Second)
			back := time.Now()
			t.Logf("%s's daemon back with a path %v after the restart", name, back.Sub(at).Round(time.Millisecond))
			return outage{name + "'s daemon restart", at, back}
		}
		// The caller's daemon, then the callee's, in one call.
		time.Sleep(5 * time.Second)
		outages := []outage{restart("alice")}
		time.Sleep(8 * time.Second)
		outages = append(outages, restart("bob"))
		checkCompleted(t, caller, talk+20*time.Second)
		checkCompleted(t, callee, 15*time.Second)
		checkOutages(t, caller, outages)
		checkOutages(t, callee, outages)
		for i, p := range []*lokicallProc{caller, callee} {
			checkProgress(t, p, "lokinet-down", outages[i].start, 2*time.Second)
			checkProgress(t, p, "lokinet-back", outages[i].start, down+10*time.Second)
		}
	})
}
