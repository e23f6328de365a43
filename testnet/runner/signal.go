package runner

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lokicall/lokicall/measure"
)

// SampleRate is the rate of every signal here, lokicall's (48 kHz).
const SampleRate = 48000

// DefaultClicks is the caller's test signal: measure's click train (a 5 ms
// Hann-windowed chirp, 800 Hz → 4 kHz at −6 dBFS) once a second, the first
// half a second in. A period of 1 s lets mouth-to-ear delays up to about
// 1 s be attributed to the right click (measure.Analyze).
var DefaultClicks = measure.ClickConfig{Period: time.Second, Offset: 500 * time.Millisecond, Length: measure.DefaultClickLength}

func samples(d time.Duration) int { return int(d.Seconds()*SampleRate + 0.5) }

// RenderClicks returns total of the click train cfg as 16-bit PCM: exactly
// what measure.NewClickTrain produces from its first sample, so that a WAV
// file of it played by lokicall's file source (whose capture stamps count
// samples from the file's start) can be analysed with measure.AnalyzeFiles
// and cfg.
func RenderClicks(cfg measure.ClickConfig, total time.Duration) ([]int16, error) {
	const frame = SampleRate / 50
	n := (samples(total) + frame - 1) / frame * frame
	pcm := make([]int16, n)
	tr := measure.NewClickTrain(cfg)
	defer tr.Close()
	for i := 0; i < n; i += frame {
		if err := tr.ReadFrame(context.Background(), pcm[i:i+frame]); err != nil {
			return nil, fmt.Errorf("runner: click train: %w", err)
		}
	}
	return pcm, nil
}

// Gap is a stretch of a recording where the signal is missing.
type Gap struct {
	At, Length time.Duration
}

// FindGaps returns the stretches of at least minLen where the 20 ms frame
// RMS of rec falls below frac of its 90th percentile: where a steady source
// (a tone) went missing and the receiver concealed or played silence. (The
// percentile, not the median, so that a recording silent for most of its
// length still has the tone's level as its reference.)
func FindGaps(rec []int16, frac float64, minLen time.Duration) []Gap {
	const frame = SampleRate / 50
	var rms []float64
	for i := 0; i+frame <= len(rec); i += frame {
		var e float64
		for _, v := range rec[i : i+frame] {
			e += float64(v) * float64(v)
		}
		rms = append(rms, math.Sqrt(e/frame))
	}
	if len(rms) == 0 {
		return nil
	}
	sorted := append([]float64(nil), rms...)
	sortFloats(sorted)
	thr := frac * sorted[len(sorted)*9/10]
	var gaps []Gap
	start := -1
	flush := func(end int) {
		if start >= 0 {
			g := Gap{At: time.Duration(start) * 20 * time.Millisecond, Length: time.Duration(end-start) * 20 * time.Millisecond}
			if g.Length >= minLen {
				gaps = append(gaps, g)
			}
		}
		start = -1
	}
	for i, v := range rms {
		if v < thr {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
	}
	flush(len(rms))
	return gaps
}
