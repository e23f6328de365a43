package media

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// Babble is a Source of a synthetic voiced signal that Opus's voice activity
// detector treats as speech, unlike a steady tone (which it soon classes as
// background noise, so in-band FEC stops): a glottal-like harmonic series
// whose pitch glides between 100 and 220 Hz, shaped into syllables of about
// 200 ms with short pauses, at about -18 dBFS RMS while voiced. It is
// deterministic, never ends and is not clocked. Tests and measurements use
// it to exercise FEC and concealment as a talker would.
type Babble struct {
	n      int64   // samples produced
	phase  float64 // glottal phase in cycles
	closed atomic.Bool
}

// NewBabble returns a babble source.
func NewBabble() *Babble { return &Babble{} }

// ReadFrame fills pcm with the next len(pcm) samples.
func (b *Babble) ReadFrame(ctx context.Context, pcm []int16) error {
	if b.closed.Load() {
		return fmt.Errorf("media: babble: %w", ErrClosed)
	}
	if err := checkFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: babble: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	const syllable = SampleRate * 240 / 1000 // syllable period in samples
	for i := range pcm {
		t := float64(b.n) / SampleRate
		k := b.n / syllable
		pos := float64(b.n%syllable) / syllable
		// Voiced for the first 80 % of each syllable, with a raised-cosine
		// envelope; every fifth syllable is a pause.
		env := 0.0
		if k%5 != 4 && pos < 0.8 {
			env = 0.5 - 0.5*math.Cos(2*math.Pi*pos/0.8)
		}
		f0 := 160 + 60*math.Sin(2*math.Pi*0.7*t) + 20*math.Sin(2*math.Pi*float64(k%7)/7)
		b.phase += f0 / SampleRate
		b.phase -= math.Floor(b.phase)
		var v float64
		for h := 1; h <= 20; h++ {
			// Formant-like emphasis around 500 Hz and 1500 Hz.
			fh := float64(h) * f0
			g := 1/float64(h) + 0.6*math.Exp(-sq((fh-500)/200)) + 0.4*math.Exp(-sq((fh-1500)/300))
			v += g * math.Sin(2*math.Pi*float64(h)*b.phase)
		}
		pcm[i] = int16(math.Round(max(-1, min(1, 0.12*env*v)) * 32767))
		b.n++
	}
	return nil
}

// Close ends the source.
func (b *Babble) Close() error {
	b.closed.Store(true)
	return nil
}

func sq(x float64) float64 { return x * x }
