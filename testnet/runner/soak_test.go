package runner

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSoakFlatness: the slope test passes a noisy level series, flags a
// slow leak that stays inside the first half's noise at every point, and
// leaves a disturbance's spanS out.
func TestSoakFlatness(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const callS = 600.0
	series := func(f func(at float64) float64) []Point {
		var pts []Point
		for at := 10.0; at <= callS; at += 10 {
			pts = append(pts, Point{at, f(at) + rng.NormFloat64()})
		}
		return pts
	}
	level := series(func(float64) float64 { return 50 })
	if f := flatness(level, callS, nil, 0.5); !f.Flat || f.TooFewPoints || f.N != 60 {
		t.Errorf("level series: %+v, want flat over 60 points", f)
	}
	// 3 MB over the second half (5 min): each step is far below the noise
	// (sd 1), the fitted drift is not.
	leak := series(func(at float64) float64 { return 50 + max(0, at-callS/2)*3/(callS/2) })
	f := flatness(leak, callS, nil, 0.5)
	if f.Flat || math.Abs(f.Drift-3) > 1 {
		t.Errorf("leaking series: %+v, want not flat with a drift of about 3", f)
	}
	if f.SlopePerHour < 20 || f.SlopePerHour > 52 {
		t.Errorf("leak slope %.1f/h, want about 36", f.SlopePerHour)
	}
	// A spike at the end of the call (a restart) tilts the fit unless its
	// spanS is left out.
	spiky := series(func(at float64) float64 {
		if at >= 560 && at <= 580 {
			return 90
		}
		return 50
	})
	if f := flatness(spiky, callS, nil, 0.5); f.Flat {
		t.Errorf("spike kept: %+v, want not flat", f)
	}
	if f := flatness(spiky, callS, []spanS{{555, 585}}, 0.5); !f.Flat || f.ExcludedPoints != 3 {
		t.Errorf("spike left out: %+v, want flat with 3 points excluded", f)
	}
	// A constant series has no spread: the floor decides.
	var steady []Point
	for at := 10.0; at <= callS; at += 10 {
		steady = append(steady, Point{at, 12 + math.Floor(at/callS*1.5)}) // one step of 1 in the second half
	}
	if f := flatness(steady, callS, nil, 2); !f.Flat {
		t.Errorf("one goroutine more: %+v, want flat with floor 2", f)
	}
	if f := flatness(level[:4], callS, nil, 0.5); !f.TooFewPoints || f.Flat {
		t.Errorf("4 points in the first half only: %+v, want too few points", f)
	}
}

// TestSoakBin: one point per interval at its end, aggregated.
func TestSoakBin(t *testing.T) {
	pts := []Point{{0.5, 1}, {9.9, 3}, {10, 10}, {25, 7}, {29, 9}}
	got := bin(pts, 10*time.Second, mean)
	want := []Point{{10, 2}, {20, 10}, {30, 8}}
	if len(got) != len(want) {
		t.Fatalf("bin = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bin[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestSoakNodeEvents: the dynamics are picked from a node's log (text
// slog) from the call's start on, with their _ms figures.
func TestSoakNodeEvents(t *testing.T) {
	log := `time=2026-12-03T06:45:00.000Z level=INFO msg="path built" relays="[10.89.7.11:1090]" intro=10.89.7.11:1090
time=2026-12-03T06:45:09.000Z level=INFO msg="session replaced" peer=abc.loki stall_ms=300
time=2026-12-03T06:45:12.500Z level=INFO msg="session replaced" peer=abc.loki stall_ms=412
time=2026-12-03T06:45:20.000Z level=WARN msg="path dead" silent_ms=1030 intro=10.89.7.12:1090
time=2026-12-03T06:45:20.250Z level=INFO msg="path rebuilt" relays="[10.89.7.13:1090]" intro=10.89.7.13:1090 outage_ms=1250
time=2026-12-03T06:45:30.000Z level=INFO msg="daemon restarted" address=abc.loki
time=garbage level=INFO msg="path expired"
`
	t0 := time.Date(2026, 12, 3, 6, 45, 10, 0, time.UTC)
	got := parseNodeEvents(log, "bob", t0)
	want := []SoakEvent{
		{AtS: 2.5, Node: "bob", Kind: "session replaced", Detail: "stall_ms=412"},
		{AtS: 10, Node: "bob", Kind: "path dead", Detail: "silent_ms=1030"},
		{AtS: 10.25, Node: "bob", Kind: "path rebuilt", Detail: "outage_ms=1250"},
		{AtS: 20, Node: "bob", Kind: "daemon restarted"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
