package call

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
)

// setupStep is one step of a media path's setup as the wire shows it: the
// first datagram of a kind to arrive, caller to callee (up) or back.
type setupStep string

const (
	stepCheckUp       setupStep = "binding request caller→callee"
	stepCheckDown     setupStep = "binding request callee→caller"
	stepResponseUp    setupStep = "binding response caller→callee"
	stepResponseDown  setupStep = "binding response callee→caller"
	stepNominate      setupStep = "USE-CANDIDATE caller→callee"
	stepHelloVerify   setupStep = "DTLS HelloVerifyRequest"
	stepClientHello   setupStep = "DTLS ClientHello"
	stepServerHello   setupStep = "DTLS ServerHello…Done"
	stepClientFinish  setupStep = "DTLS client CCS+Finished"
	stepServerFinish  setupStep = "DTLS server CCS+Finished"
	stepSRTPUp        setupStep = "first SRTP caller→callee"
	stepSRTPDown      setupStep = "first SRTP callee→caller"
	stepConnectCaller setupStep = "caller connected"
	stepConnectCallee setupStep = "callee connected"
)

// pathFlow is one media path between the two nodes: a pair of ports, and
// the first arrival of each setup step on it.
type pathFlow struct {
	callerPort, calleePort int
	first                  map[setupStep]time.Time
}

// setupTracer is a vnet chunk filter that notes when each setup step's first
// datagram arrives (vnet filters run on delivery, after the path delay).
type setupTracer struct {
	callerIP string
	mu       sync.Mutex
	flows    []*pathFlow
}

func (tr *setupTracer) filter(c vnet.Chunk) bool {
	src, ok1 := c.SourceAddr().(*net.UDPAddr)
	dst, ok2 := c.DestinationAddr().(*net.UDPAddr)
	if !ok1 || !ok2 {
		return true
	}
	up := src.IP.String() == tr.callerIP
	callerPort, calleePort := src.Port, dst.Port
	if !up {
		callerPort, calleePort = dst.Port, src.Port
	}
	step, ok := classifySetup(c.UserData(), up)
	if !ok {
		return true
	}
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var f *pathFlow
	for _, x := range tr.flows {
		if x.callerPort == callerPort && x.calleePort == calleePort {
			f = x
		}
	}
	if f == nil {
		f = &pathFlow{callerPort: callerPort, calleePort: calleePort, first: map[setupStep]time.Time{}}
		tr.flows = append(tr.flows, f)
	}
	if _, seen := f.first[step]; !seen {
		f.first[step] = now
	}
	return true
}

// paths is the number of media paths seen.
func (tr *setupTracer) paths() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.flows)
}

// flow returns the i-th media path seen (a copy), or nil.
func (tr *setupTracer) flow(i int) map[setupStep]time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if i >= len(tr.flows) {
		return nil
	}
	out := map[setupStep]time.Time{}
	for k, v := range tr.flows[i].first {
		out[k] = v
	}
	return out
}

// classifySetup names the setup step a datagram belongs to: STUN binding
// requests and responses (RFC 8489), DTLS handshake records (RFC 6347;
// the DTLS client is the callee, pion's default answering role, so the
// direction tells client from server), and SRTP (RFC 7983 demultiplexing).
func classifySetup(b []byte, up bool) (setupStep, bool) {
	switch {
	case len(b) >= 20 && b[0] < 2 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442:
		switch binary.BigEndian.Uint16(b[0:2]) {
		case 0x0001:
			if up && stunHasAttr(b, 0x0025) {
				return stepNominate, true
			}
			return pick(up, stepCheckUp, stepCheckDown), true
		case 0x0101:
			return pick(up, stepResponseUp, stepResponseDown), true
		}
	case len(b) >= 14 && b[0] >= 20 && b[0] <= 63:
		switch {
		case b[0] == 22 && b[13] == 1:
			return stepClientHello, true
		case b[0] == 22 && b[13] == 3:
			return stepHelloVerify, true
		case b[0] == 22 && b[13] == 2:
			return stepServerHello, true
		case hasChangeCipherSpec(b):
			return pick(!up, stepClientFinish, stepServerFinish), true
		}
	case len(b) >= 12 && b[0] >= 128 && b[0] <= 191 && (b[1] < 192 || b[1] > 223):
		return pick(up, stepSRTPUp, stepSRTPDown), true
	}
	return "", false
}

func pick(up bool, a, b setupStep) setupStep {
	if up {
		return a
	}
	return b
}

// stunHasAttr reports whether a STUN message carries an attribute of type t.
func stunHasAttr(b []byte, t uint16) bool {
	n := min(len(b), 20+int(binary.BigEndian.Uint16(b[2:4])))
	for i := 20; i+4 <= n; {
		at, l := binary.BigEndian.Uint16(b[i:i+2]), int(binary.BigEndian.Uint16(b[i+2:i+4]))
		if at == t {
			return true
		}
		i += 4 + (l+3)&^3
	}
	return false
}

// logTimes is a slog handler that notes when each message was first logged.
type logTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (h *logTimes) Enabled(context.Context, slog.Level) bool { return true }
func (h *logTimes) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at == nil {
		h.at = map[string]time.Time{}
	}
	if _, ok := h.at[r.Message]; !ok {
		h.at[r.Message] = r.Time
	}
	return nil
}
func (h *logTimes) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logTimes) WithGroup(string) slog.Handler      { return h }

func (h *logTimes) time(msg string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at[msg]
}

// setupRun is one call's setup timeline: from the callee's answer to the
// first audio each way, for the first media path and a restart's.
type setupRun struct {
	rtt            time.Duration
	answer, resAns time.Time
	first, restart map[setupStep]time.Time
	// recovery is each side's recovery_rtts after the socket died.
	recovery map[string]float64
	// paths counts the media paths the call built.
	paths int
}

// runSetupCall places one call over a vnet path with the given one-way
// delay; the caller's media socket dies 2.5 s after audio flows (the call
// has path round trip samples by then) and the caller's restart builds a
// new path.
func runSetupCall(t *testing.T, ips [2]string, subnet string, port uint16, oneWay time.Duration) setupRun {
	t.Helper()
	alice, bob := newPeers(t, ips[0], ips[1])
	tr := &setupTracer{callerIP: subnet + ".1"}
	nets := vnetPath(t, alice, bob, subnet, oneWay, 0, tr.filter)
	kn := &killableNet{Net: nets[alice]}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var (
		logs    logTimes
		connMu  sync.Mutex
		conns   = map[string]time.Time{}
		killed  atomic.Int64
		ringing atomic.Int64
	)
	bcfg := bob.config("tone:660", "null", 0)
	bcfg.Net = nets[bob]
	bcfg.Logger = slog.New(&logs)
	bcfg.RecoverAfter = 500 * time.Millisecond
	bcfg.Events = func(ev Event) {
		if ev.Kind == EventState && ev.State == StateRinging {
			ringing.CompareAndSwap(0, ev.Time.UnixNano())
		}
		if ev.Kind == EventState && ev.State == StateConnected {
			connMu.Lock()
			conns["callee"] = ev.Time
			connMu.Unlock()
		}
		bob.events(ev)
	}
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("tone:440", "null", 7*time.Second)
	acfg.Net = kn
	acfg.RecoverAfter = 500 * time.Millisecond
	acfg.Events = func(ev Event) {
		if ev.Kind == EventState && ev.State == StateConnected {
			connMu.Lock()
			conns["caller"] = ev.Time
			connMu.Unlock()
		}
		if ev.Kind == EventState && ev.State == StateActive {
			time.AfterFunc(2500*time.Millisecond, func() {
				killed.Store(time.Now().UnixNano())
				kn.kill()
			})
		}
		alice.events(ev)
	}
	if _, err := Dial(ctx, acfg, bob.target(port)); err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("callee: %v", err)
	}
	run := setupRun{rtt: 2 * oneWay, answer: time.Unix(0, ringing.Load()),
		resAns: logs.time("the caller restarts the media path"), first: tr.flow(0), restart: tr.flow(1)}
	run.paths = tr.paths()
	run.recovery = map[string]float64{"caller": recoveryRTTs(alice), "callee": recoveryRTTs(bob)}
	connMu.Lock()
	run.first[stepConnectCaller], run.first[stepConnectCallee] = conns["caller"], conns["callee"]
	connMu.Unlock()
	if run.restart == nil || run.resAns.IsZero() {
		t.Fatalf("no restart after the caller's socket died (killed: %v)", killed.Load() != 0)
	}
	return run
}

// recoveryRTTs is the recovery_rtts of p's last ended interruption; -1
// when there is none.
func recoveryRTTs(p *peer) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := -1.0
	for _, ev := range p.evs {
		if ev.Kind == EventInterruption && ev.Interruption.Phase == InterruptionEnded && ev.Interruption.RecoveryRTTs != nil {
			r = *ev.Interruption.RecoveryRTTs
		}
	}
	return r
}

// inRTTs lists the steps of a timeline in path round trips after start,
// in order.
func inRTTs(steps map[setupStep]time.Time, start time.Time, rtt time.Duration) string {
	type kv struct {
		k setupStep
		v float64
	}
	var xs []kv
	for k, v := range steps {
		if !v.IsZero() {
			xs = append(xs, kv{k, float64(v.Sub(start)) / float64(rtt)})
		}
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].v < xs[j].v })
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "\n  %5.2f RTT  %s", x.v, x.k)
	}
	return b.String()
}

// rtts is d in round trips of rtt.
func rtts(d, rtt time.Duration) float64 { return float64(d) / float64(rtt) }

// Protocol floors of a media path's setup from the answer, in round trips:
// one binding check (1), its nomination reaching the controlled callee
// (0.5), whose DTLS client then needs ClientHello, the server's flight,
// its own final flight and the server's Finished (4 × 0.5; HelloVerify
// skipped), the server's first SRTP riding with that last flight. The
// caller hears the callee half a round trip after the callee connects.
const (
	floorCalleeHears = 1 + 0.5 + 4*0.5
	floorCallerHears = floorCalleeHears + 0.5
)

// setupSlack is what a setup may take beyond the protocol floor, in round
// trips of rtt: pion/ice's fixed connectivity check interval (200 ms,
// defaultCheckInterval, which pion/webrtc's SettingEngine does not expose),
// when the controlling side nominates at its next check rather than on the
// peer's triggered one, and a quarter round trip for local processing on a
// busy machine.
func setupSlack(rtt time.Duration) float64 { return rtts(200*time.Millisecond, rtt) + 0.25 }

// TestSetupRoundTrips measures, on a path of 250 ms round trip, where the
// round trips go from the callee's answer to the first audio each way, for
// the first media path and for a restart's (the caller's media socket dies
// mid-call), first as before (the caller switching to a restart's path at
// the callee's first audio there, a second restart free to replace it) and
// then as now. Each side must hear the other within setupSlack of the
// protocol floor; on a restart's path the caller's first audio must ride
// with its final handshake flight, and no second restart may replace it.
func TestSetupRoundTrips(t *testing.T) {
	defer func(sw bool, grace float64) { switchOnHandshake, restartGraceRTTs = sw, grace }(switchOnHandshake, restartGraceRTTs)
	switchOnHandshake, restartGraceRTTs = false, 0
	before := runSetupCall(t, [2]string{"127.77.41.1", "127.77.41.2"}, "10.77.41", 17841, 125*time.Millisecond)
	switchOnHandshake, restartGraceRTTs = true, 6
	after := runSetupCall(t, [2]string{"127.77.42.1", "127.77.42.2"}, "10.77.42", 17842, 125*time.Millisecond)
	for _, r := range []struct {
		name string
		run  setupRun
	}{{"before", before}, {"after", after}} {
		t.Logf("%s: first path, from the answer:%s", r.name, inRTTs(r.run.first, r.run.answer, r.run.rtt))
		t.Logf("%s: restart, from its first answer:%s", r.name, inRTTs(r.run.restart, r.run.resAns, r.run.rtt))
		t.Logf("%s: %d restart paths; recovery_rtts (path's first packet back to first audio): caller %.2f, callee %.2f",
			r.name, r.run.paths-1, r.run.recovery["caller"], r.run.recovery["callee"])
		if _, ok := r.run.first[stepHelloVerify]; ok {
			t.Errorf("%s: the DTLS server sent a HelloVerifyRequest: a round trip for a cookie ICE made useless", r.name)
		}
	}
	for _, c := range []struct {
		name  string
		steps map[setupStep]time.Time
		start time.Time
	}{{"first path (before)", before.first, before.answer}, {"first path", after.first, after.answer},
		{"restart", after.restart, after.resAns}} {
		for _, s := range []struct {
			step  setupStep
			floor float64
		}{{stepSRTPUp, floorCalleeHears}, {stepSRTPDown, floorCallerHears}} {
			at, ok := c.steps[s.step]
			if !ok {
				t.Errorf("%s: no %s", c.name, s.step)
				continue
			}
			got := rtts(at.Sub(c.start), after.rtt)
			t.Logf("%s: %s after %.2f RTT (floor %.1f)", c.name, s.step, got, s.floor)
			if slack := setupSlack(after.rtt); got > s.floor+slack {
				t.Errorf("%s: %s after %.2f RTT, want within %.2f of the floor %.1f", c.name, s.step, got, slack, s.floor)
			}
		}
	}
	for _, r := range []struct {
		name string
		run  setupRun
	}{{"before", before}, {"after", after}} {
		fin, audio := r.run.restart[stepServerFinish], r.run.restart[stepSRTPUp]
		if fin.IsZero() || audio.IsZero() {
			t.Logf("%s: the first restart's path never carried the caller's audio", r.name)
			if r.name == "after" {
				t.Errorf("the first restart's path never carried the caller's audio")
			}
			continue
		}
		lag := rtts(audio.Sub(fin), r.run.rtt)
		t.Logf("%s: on the restart's path the caller's first audio came %.2f RTT after its final handshake flight", r.name, lag)
		if r.name == "after" && lag > 0.25 {
			t.Errorf("on the restart's path the caller's first audio came %.2f RTT after its final handshake flight, want with it", lag)
		}
	}
	if after.paths != 2 {
		t.Errorf("%d restart paths, want the first to carry the audio", after.paths-1)
	}
}
