package media_test

import (
	"math"
	"testing"

	"github.com/lokicall/lokicall/media"
)

// TestToneContinuousPhase reads a tone in frames of varying length and
// checks the result against one unbroken sine.
func TestToneContinuousPhase(t *testing.T) {
	tone := media.NewTone(1234.5)
	var got []int16
	for _, n := range []int{480, 960, 1440, 480, 2880, 960} {
		f := make([]int16, n)
		if err := tone.ReadFrame(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		got = append(got, f...)
	}
	amp := math.Pow(10, -12.0/20) * 32767
	for i, v := range got {
		want := amp * math.Sin(2*math.Pi*1234.5*float64(i)/48000)
		if math.Abs(float64(v)-want) > 1.01 {
			t.Fatalf("sample %d = %d, want %.1f", i, v, want)
		}
	}
	var m media.Meter
	m.Update(got)
	if l := m.Level(); math.Abs(l+12) > 0.05 {
		t.Errorf("tone level %.2f dBFS, want -12", l)
	}
}

func TestSilence(t *testing.T) {
	f := []int16{1, 2, 3}
	f = append(f, make([]int16, 477)...)
	if err := media.NewSilence().ReadFrame(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	for _, v := range f {
		if v != 0 {
			t.Fatal("silence is not silent")
		}
	}
}
