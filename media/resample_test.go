package media_test

import (
	"math"
	"testing"

	"github.com/lokicall/lokicall/media"
)

func sine(n, rate int, hz, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return out
}

func TestResample(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to int
		hz       float64
		wantAmp  float64 // amplitude of hz after resampling
		alias    float64 // a frequency that must be absent (image or alias), 0: none
		maxAlias float64
	}{
		{"8k to 48k keeps 3 kHz, no image at 5 kHz", 8000, 48000, 3000, 0.5, 5000, 0.001},
		{"44.1k to 48k keeps 18 kHz", 44100, 48000, 18000, 0.5, 0, 0},
		{"96k to 48k removes 30 kHz (would alias to 18 kHz)", 96000, 48000, 30000, 0, 18000, 0.001},
		{"96k to 48k keeps 1 kHz", 96000, 48000, 1000, 0.5, 0, 0},
		{"16k to 48k keeps 440 Hz", 16000, 48000, 440, 0.5, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sine(tc.from/2, tc.from, tc.hz, 0.5)
			out := media.Resample(in, tc.from, tc.to)
			if want := (len(in)*tc.to + tc.from - 1) / tc.from; len(out) != want {
				t.Fatalf("len = %d, want %d", len(out), want)
			}
			mid := out[len(out)/8 : len(out)*7/8] // away from the edges
			if tc.hz < float64(tc.to)/2 {
				if a := media.ToneAmplitude(mid, tc.to, tc.hz); math.Abs(a-tc.wantAmp) > 0.01 {
					t.Errorf("amplitude at %v Hz = %.4f, want %.2f", tc.hz, a, tc.wantAmp)
				}
			}
			if tc.alias > 0 && tc.alias < float64(tc.to)/2 {
				if a := media.ToneAmplitude(mid, tc.to, tc.alias); a > tc.maxAlias {
					t.Errorf("alias/image at %v Hz = %.5f, want < %v", tc.alias, a, tc.maxAlias)
				}
			}
		})
	}
	if got := media.Resample([]int16{1, 2, 3}, 48000, 48000); !equalPCM(got, []int16{1, 2, 3}) {
		t.Errorf("same-rate Resample = %v", got)
	}
	if got := media.Resample([]int16{1}, 0, 48000); got != nil {
		t.Errorf("Resample from rate 0 = %v, want nil", got)
	}
}
