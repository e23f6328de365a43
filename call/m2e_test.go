package call

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/measure"
)

// TestE2EMouthToEar measures the client-added mouth-to-ear delay of an
// in-process call on a clean loopback path, from audio: the caller sends a
// click train, the callee's playout is recorded, and each click's delay is
// its playout stamp minus its capture stamp on the one clock of the process.
// It prints a table per frame size against the Opus algorithmic delay plus
// one frame of buffer, and fails when the 20 ms median exceeds that by more
// than 15 ms in each of up to three calls. LOKICALL_E2E=1 runs it (about
// 40 s, more on a loaded machine).
func TestE2EMouthToEar(t *testing.T) {
	if os.Getenv("LOKICALL_E2E") == "" {
		t.Skip("set LOKICALL_E2E=1 to measure mouth-to-ear delay")
	}
	clicks := measure.ClickConfig{Period: 500 * time.Millisecond}
	const settle = 6 // clicks (3 s) for the adaptive jitter buffer to settle
	var table strings.Builder
	fmt.Fprintf(&table, "%-6s %7s %9s %8s %8s %8s %8s %7s %8s\n",
		"frame", "clicks", "limit+1f", "min", "median", "p90", "max", "excess", "missing")
	for i, frame := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond} {
		limit := measure.OpusAlgorithmicDelay(frame) + frame
		// A loaded machine only adds delay (a late playout thread, a
		// buffer grown for its hiccups), so the 20 ms check takes the best
		// of up to three calls: a delay the code adds shows in all three.
		for attempt := range 3 {
			s, missing := measureMouthToEar(t, i, attempt, frame, clicks, settle)
			ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
			fmt.Fprintf(&table, "%-6v %7d %9s %8s %8s %8s %8s %7s %8d\n",
				frame, s.N, ms(limit), ms(s.Min), ms(s.Median), ms(s.P90), ms(s.Max), ms(s.Median-limit), missing)
			over := frame == 20*time.Millisecond && s.Median > limit+15*time.Millisecond
			if s.N >= 5 && !over {
				break
			}
			if attempt < 2 {
				t.Logf("%v, call %d: %d clicks after settling, median %v: calling again", frame, attempt+1, s.N, s.Median)
				continue
			}
			if s.N < 5 {
				t.Errorf("%v: only %d clicks found after settling", frame, s.N)
			}
			if over {
				t.Errorf("20 ms frames: median mouth-to-ear %v exceeds Opus limit + one frame (%v) by more than 15 ms in three calls", s.Median, limit)
			}
		}
	}
	t.Logf("client-added mouth-to-ear delay on a clean loopback path (ms, one way, one clock):\n%s", table.String())
}

// measureMouthToEar runs one call with frame-sized packets for
// TestE2EMouthToEar, on addresses of its own (i) and a port of its own per
// attempt, and summarizes the delays of the clicks after settle of them,
// with the number of clicks missing.
func measureMouthToEar(t *testing.T, i, attempt int, frame time.Duration, clicks measure.ClickConfig, settle int) (measure.Summary, int) {
	t.Helper()
	alice, bob := newPeers(t, "127.77.21."+strconv.Itoa(2*i+1), "127.77.21."+strconv.Itoa(2*i+2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := uint16(17810 + i + 30*attempt)
	var capture *measure.Capture
	var playout *measure.Playout
	bcfg := bob.config("silence", "null", 0)
	bcfg.Encoder.FrameDuration = frame
	bcfg.WrapSink = measure.PlayoutTap(true, nil, &playout)
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("silence", "null", 8*time.Second)
	acfg.Encoder.FrameDuration = frame
	acfg.WrapSource = measure.ClickSource(clicks, nil, &capture)
	if _, err := Dial(ctx, acfg, bob.target(port)); err != nil {
		t.Fatalf("%v: dial: %v", frame, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("%v: callee: %v", frame, err)
	}
	res, err := measure.Analyze(clicks, capture.Stamps(), playout.Samples(), playout.Stamps())
	if err != nil {
		t.Fatalf("%v: %v", frame, err)
	}
	return measure.Summarize(res.Delays(settle)), res.Missing
}
