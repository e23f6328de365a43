package media_test

import (
	"math"
	"testing"

	"github.com/lokicall/lokicall/media"
)

func TestMeter(t *testing.T) {
	var m media.Meter
	if l := m.Level(); l != media.MinLevel {
		t.Errorf("fresh meter = %v, want MinLevel", l)
	}
	m.Update(sine(960, 48000, 1000, 1))
	if l := m.Level(); math.Abs(l) > 0.05 {
		t.Errorf("full-scale sine = %.2f dBFS, want 0 (AES17)", l)
	}
	m.Update(sine(960, 48000, 1000, 0.1))
	if l := m.Level(); math.Abs(l+20) > 0.05 {
		t.Errorf("0.1 sine = %.2f dBFS, want -20", l)
	}
	if p := m.Peak(); math.Abs(p) > 0.05 {
		t.Errorf("Peak = %.2f, want the 0 dBFS held", p)
	}
	if p := m.Peak(); math.Abs(p+20) > 0.05 {
		t.Errorf("Peak after reset = %.2f, want -20", p)
	}
	m.Update(make([]int16, 960))
	if l := m.Level(); l != media.MinLevel {
		t.Errorf("silence = %v, want MinLevel", l)
	}
}

func TestDominantFrequency(t *testing.T) {
	for _, hz := range []float64{50, 440, 997, 3150.5, 15000} {
		for _, n := range []int{960, 48000} {
			if hz*float64(n)/48000 < 5 {
				continue // fewer than 5 periods
			}
			if f := media.DominantFrequency(sine(n, 48000, hz, 0.3), 48000); math.Abs(f-hz) > 1 {
				t.Errorf("DominantFrequency(%v Hz, %d samples) = %.2f", hz, n, f)
			}
		}
	}
	if f := media.DominantFrequency(sine(8000, 8000, 440, 0.3), 8000); math.Abs(f-440) > 0.5 {
		t.Errorf("at 8 kHz: %.2f", f)
	}
	if f := media.DominantFrequency(make([]int16, 960), 48000); f != 0 {
		t.Errorf("silence: %v, want 0", f)
	}
	if f := media.DominantFrequency(nil, 48000); f != 0 {
		t.Errorf("empty: %v, want 0", f)
	}
	if a := media.ToneAmplitude(sine(4800, 48000, 440, 0.5), 48000, 440); math.Abs(a-0.5) > 0.005 {
		t.Errorf("ToneAmplitude = %.4f, want 0.5", a)
	}
	if a := media.ToneAmplitude(sine(4800, 48000, 440, 0.5), 48000, 1000); a > 0.01 {
		t.Errorf("ToneAmplitude at another frequency = %.4f", a)
	}
}
