package tones

import (
	"math"
	"testing"
	"time"
)

// power returns the power of pcm at hz (Goertzel), normalised to the
// signal's length.
func power(pcm []int16, hz float64) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(pcm)*len(pcm))
}

func rms(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// TestCadences: every plan's tones are on and off when their cadence says,
// at their frequencies.
func TestCadences(t *testing.T) {
	for _, name := range Names() {
		p, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			continue
		}
		for label, tone := range map[string]Tone{"ring": p.Ring, "ringback": p.Ringback, "busy": p.Busy, "declined": p.Declined} {
			pl := NewPlayer(tone)
			// Two cycles, checked in 10 ms windows away from the edges.
			pcm := make([]int16, 2*int(tone.Period().Seconds()*SampleRate))
			pl.Fill(pcm[:1000]) // in two parts: the cadence runs on across calls
			pl.Fill(pcm[1000:])
			const win = SampleRate / 25                             // 40 ms: 25 Hz apart is resolved
			want := math.Pow(level/float64(len(tone.Freqs)), 2) / 4 // a sine's Goertzel power
			checked := 0
			for w := 0; w+win <= len(pcm); w += win / 4 {
				from := time.Duration(w) * time.Second / SampleRate % tone.Period()
				to := from + time.Duration(win)*time.Second/SampleRate
				on, inside := false, false
				var at time.Duration
				for k, d := range tone.Cadence {
					if from >= at+6*time.Millisecond && to <= at+d-6*time.Millisecond {
						on, inside = k%2 == 0, true
					}
					at += d
				}
				if !inside {
					continue
				}
				checked++
				seg := pcm[w : w+win]
				if !on {
					if r := rms(seg); r != 0 {
						t.Fatalf("%s %s at %v: RMS %.0f in a pause", name, label, from, r)
					}
					continue
				}
				for _, f := range tone.Freqs {
					if pw := power(seg, f); pw < want/2 {
						t.Fatalf("%s %s at %v: %v Hz at %.0f, want about %.0f", name, label, from, f, pw, want)
					}
				}
				if pw := power(seg, 1000); pw > want/100 {
					t.Fatalf("%s %s at %v: 1 kHz at %.0f", name, label, from, pw)
				}
			}
			if checked < 10 {
				t.Fatalf("%s %s: only %d windows checked", name, label, checked)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	if p, err := Lookup(""); err != nil || p == nil || p.Name != Default {
		t.Errorf("default plan: %v, %v", p, err)
	}
	if p, err := Lookup("OFF"); err != nil || p != nil {
		t.Errorf("off: %v, %v", p, err)
	}
	if _, err := Lookup("mars"); err == nil {
		t.Error("unknown plan accepted")
	}
}
