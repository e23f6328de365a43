package runner

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSoakFlatness: the slope test passes a noisy level series, flags a
// slow leak that stays inside the first half's noise at every point, and
// leaves a disturbance's window out.
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
	// window is left out.
	spiky := series(func(at float64) float64 {
		if at >= 560 && at <= 580 {
			return 90
		}
		return 50
	})
	if f := flatness(spiky, callS, nil, 0.5); f.Flat {
		t.Errorf("spike kept: %+v, want not flat", f)
	}
	if f := flatness(spiky, callS, []window{{555, 585}}, 0.5); !f.Flat || f.ExcludedPoints != 3 {
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
