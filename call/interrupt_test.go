package call

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestQualityWindowAndMedian: the live window reaches back liveWindow from
// the newest snapshot and no further, and the path RTT is the median of the
// samples, so one spike does not move it.
func TestQualityWindowAndMedian(t *testing.T) {
	var q quality
	t0 := time.Unix(1000, 0)
	var base counters
	for i := 0; i <= 12; i++ {
		base = q.push(counters{at: t0.Add(time.Duration(i) * time.Second), received: uint64(50 * i)})
	}
	if want := t0.Add(7 * time.Second); !base.at.Equal(want) {
		t.Errorf("window starts at %v, want %v (5 s before the newest snapshot)", base.at.Sub(t0), want.Sub(t0))
	}
	for _, r := range []float64{200, 210, 190, 2600, 205} {
		q.addRTT(r)
	}
	q.addRTT(0) // no measurement: ignored
	if got := q.medianRTT(); got != 205 {
		t.Errorf("median RTT %v, want 205", got)
	}
	now := t0.Add(time.Minute)
	q.startInterruption(now)
	if n, d, _ := q.totals(now.Add(3 * time.Second)); n != 1 || d != 3*time.Second {
		t.Errorf("ongoing interruption counts %d, %v; want 1, 3s", n, d)
	}
	if gap := q.endInterruption(now.Add(8 * time.Second)); gap != 8*time.Second {
		t.Errorf("gap %v, want 8s", gap)
	}
	if n, d, _ := q.totals(now.Add(time.Hour)); n != 1 || d != 8*time.Second {
		t.Errorf("after the interruption: %d, %v; want 1, 8s", n, d)
	}
}

// TestInterruptionEventJSON: the interruption event and the new statistics
// have the field names other tools read (--json).
func TestInterruptionEventJSON(t *testing.T) {
	zero := 0.0
	for _, c := range []struct {
		ev   Event
		want []string
		not  []string
	}{
		{Event{Kind: EventInterruption, CallID: "c", Peer: "p", Interruption: &Interruption{Phase: InterruptionStarted, SilentMS: 1000}},
			[]string{`"event":"interruption"`, `"interruption":{"phase":"started","silent_ms":1000}`}, []string{"gap_ms", "recovery_rtts"}},
		{Event{Kind: EventInterruption, Interruption: &Interruption{Phase: InterruptionEnded, GapMS: 8123, RecoveryRTTs: &zero}},
			[]string{`"interruption":{"phase":"ended","gap_ms":8123,"recovery_rtts":0}`}, nil},
		{Event{Kind: EventInterruption, Interruption: &Interruption{Phase: InterruptionEnded, GapMS: 8123}},
			[]string{`"gap_ms":8123`}, []string{"recovery_rtts"}},
		{Event{Kind: EventStats, Stats: &Stats{}}, []string{`"interruptions":0`, `"interrupted_ms":0`}, nil},
		{Event{Kind: EventLive, Live: &LiveStats{WindowS: 5}}, []string{`"window_s":5`}, nil},
	} {
		b, err := json.Marshal(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %s", b, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s has %s", b, n)
			}
		}
	}
}
