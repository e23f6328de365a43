package media

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// toneAmplitude is the peak amplitude of NewTone's sine: -12 dBFS.
var toneAmplitude = math.Pow(10, -12.0/20) * 32767

// Tone is a Source of a sine wave at -12 dBFS whose phase runs on across
// frames. It never ends and is not clocked.
type Tone struct {
	step   float64 // phase increment per sample, in cycles
	phase  float64 // current phase in cycles, in [0, 1)
	closed atomic.Bool
}

// NewTone returns a tone source at hz (which should lie below 24 kHz).
func NewTone(hz float64) *Tone {
	return &Tone{step: hz / SampleRate}
}

// ReadFrame fills pcm with the next len(pcm) samples of the tone.
func (t *Tone) ReadFrame(ctx context.Context, pcm []int16) error {
	if t.closed.Load() {
		return fmt.Errorf("media: tone: %w", ErrClosed)
	}
	if err := checkFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: tone: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range pcm {
		pcm[i] = int16(math.Round(toneAmplitude * math.Sin(2*math.Pi*t.phase)))
		t.phase += t.step
		t.phase -= math.Floor(t.phase)
	}
	return nil
}

// Close ends the source.
func (t *Tone) Close() error {
	t.closed.Store(true)
	return nil
}

// Silence is a Source of digital silence that never ends and is not clocked.
type Silence struct{ closed atomic.Bool }

// NewSilence returns a silence source.
func NewSilence() *Silence { return &Silence{} }

// ReadFrame fills pcm with zeros.
func (s *Silence) ReadFrame(ctx context.Context, pcm []int16) error {
	if s.closed.Load() {
		return fmt.Errorf("media: silence: %w", ErrClosed)
	}
	if err := checkFrame(len(pcm)); err != nil {
		return fmt.Errorf("media: silence: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	clear(pcm)
	return nil
}

// Close ends the source.
func (s *Silence) Close() error {
	s.closed.Store(true)
	return nil
}
