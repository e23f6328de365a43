// Package measure measures a call from its audio: a click train source
// whose click positions are known, taps that stamp each frame with the
// wall-clock time it was captured (handed to the encoder) and played out
// (written to the sink), and the analysis that finds every click in the
// recorded output by cross-correlation and turns the stamps into a
// mouth-to-ear delay per click (DESIGN §7).
//
// Both stamps must come from one clock: one process, or processes on one
// host, whose stamps are Unix nanoseconds of the same system clock. For the
// second case the taps write their stamps as CSV (WriteStamps), one file next
// to the caller's source and one next to the callee's WAV sink, and
// AnalyzeFiles reads them back.
package measure

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/lokicall/lokicall/media"
)

// Click train defaults.
const (
	// DefaultPeriod is the time between clicks. It bounds the delay that
	// can be measured unambiguously (half of it).
	DefaultPeriod = time.Second
	// DefaultClickLength is the length of one click: a chirp.
	DefaultClickLength = 5 * time.Millisecond
)

// ClickConfig shapes a click train. The zero value gives the defaults.
type ClickConfig struct {
	// Period between clicks; 0: DefaultPeriod.
	Period time.Duration
	// Offset of the first click from the start; 0: a quarter period.
	Offset time.Duration
	// Length of each click; 0: DefaultClickLength.
	Length time.Duration
}

// withDefaults fills in the zero fields.
func (c ClickConfig) withDefaults() ClickConfig {
	if c.Period <= 0 {
		c.Period = DefaultPeriod
	}
	if c.Offset <= 0 {
		c.Offset = c.Period / 4
	}
	if c.Length <= 0 {
		c.Length = DefaultClickLength
	}
	return c
}

// samples converts d to samples at media.SampleRate.
func samples(d time.Duration) int64 { return int64(d) * media.SampleRate / int64(time.Second) }

// Template returns one click: a Hann-windowed linear chirp from 800 Hz to
// 4 kHz at -6 dBFS peak. A chirp keeps a sharp cross-correlation peak
// after a speech codec, which a bare impulse does not.
func (c ClickConfig) Template() []int16 {
	c = c.withDefaults()
	n := int(samples(c.Length))
	out := make([]int16, n)
	const f0, f1 = 800.0, 4000.0
	dur := float64(n) / media.SampleRate
	for i := range out {
		t := float64(i) / media.SampleRate
		phase := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*dur))
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		out[i] = int16(math.Round(16384 * w * math.Sin(phase)))
	}
	return out
}

// Position returns the first source sample of click k.
func (c ClickConfig) Position(k int) int64 {
	c = c.withDefaults()
	return samples(c.Offset) + int64(k)*samples(c.Period)
}

// ClickTrain is a media.Source of silence with a click every Period. It never
// ends and is not clocked (the sender paces it).
type ClickTrain struct {
	cfg    ClickConfig
	tmpl   []int16
	period int64
	offset int64
	pos    int64
	closed atomic.Bool
}

// NewClickTrain returns a click train shaped by cfg.
func NewClickTrain(cfg ClickConfig) *ClickTrain {
	cfg = cfg.withDefaults()
	return &ClickTrain{cfg: cfg, tmpl: cfg.Template(), period: samples(cfg.Period), offset: samples(cfg.Offset)}
}

// Config returns the train's configuration with defaults filled in.
func (c *ClickTrain) Config() ClickConfig { return c.cfg }

// ReadFrame fills pcm with the next len(pcm) samples of the train.
func (c *ClickTrain) ReadFrame(ctx context.Context, pcm []int16) error {
	if c.closed.Load() {
		return fmt.Errorf("measure: click train: %w", media.ErrClosed)
	}
	if len(pcm) == 0 || len(pcm)%(media.SampleRate/100) != 0 {
		return fmt.Errorf("measure: click train: %w: %d samples", media.ErrFrameSize, len(pcm))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range pcm {
		p := c.pos + int64(i) - c.offset
		pcm[i] = 0
		if p >= 0 {
			if j := p % c.period; j < int64(len(c.tmpl)) {
				pcm[i] = c.tmpl[j]
			}
		}
	}
	c.pos += int64(len(pcm))
	return nil
}

// Close ends the source.
func (c *ClickTrain) Close() error {
	c.closed.Store(true)
	return nil
}
