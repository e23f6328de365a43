package call

import (
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
