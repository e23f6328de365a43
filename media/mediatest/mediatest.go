// Package mediatest has in-memory fakes of media's seams so pipelines run
// without a sound card or real time: a Source of given samples or a
// generator, a Sink that records frames, and a Clock that steps instantly.
package mediatest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lokicall/lokicall/media"
)

// Source is an in-memory media.Source. It plays Samples once, or Gen
// forever, and counts frames. Set ClockedSource to make media.Clocked report
// true (the Source still returns at once).
type Source struct {
	mu            sync.Mutex
	samples       []int16
	gen           func(i int64) int16
	pos           int64
	frames        int
	closed        bool
	ClockedSource bool
}

// NewSource returns a source that plays pcm once and then returns io.EOF;
// the last frame is padded with silence.
func NewSource(pcm []int16) *Source {
	return &Source{samples: pcm}
}

// NewGenerator returns a source that never ends: sample i is gen(i).
func NewGenerator(gen func(i int64) int16) *Source {
	return &Source{gen: gen}
}

// ReadFrame fills pcm with the next samples.
func (s *Source) ReadFrame(ctx context.Context, pcm []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("mediatest: source: %w", media.ErrClosed)
	case len(pcm) == 0 || len(pcm)%(media.SampleRate/100) != 0:
		return fmt.Errorf("mediatest: source: %w: %d samples", media.ErrFrameSize, len(pcm))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	if s.gen != nil {
		for i := range pcm {
			pcm[i] = s.gen(s.pos)
			s.pos++
		}
		s.frames++
		return nil
	}
	if s.pos >= int64(len(s.samples)) {
		return io.EOF
	}
	n := copy(pcm, s.samples[s.pos:])
	clear(pcm[n:])
	s.pos += int64(len(pcm))
	s.frames++
	return nil
}

// Frames returns how many frames were read.
func (s *Source) Frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// Clocked reports the ClockedSource field.
func (s *Source) Clocked() bool { return s.ClockedSource }

// Close ends the source.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Sink is an in-memory media.Sink that records every frame written to it.
// OnWrite, if set before use, is called with each frame after it is
// recorded.
type Sink struct {
	mu      sync.Mutex
	frames  [][]int16
	closed  bool
	OnWrite func(pcm []int16)
}

// NewSink returns an empty recording sink.
func NewSink() *Sink { return &Sink{} }

// WriteFrame records a copy of pcm.
func (s *Sink) WriteFrame(pcm []int16) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("mediatest: sink: %w", media.ErrClosed)
	}
	f := append([]int16(nil), pcm...)
	s.frames = append(s.frames, f)
	cb := s.OnWrite
	s.mu.Unlock()
	if cb != nil {
		cb(f)
	}
	return nil
}

// Frames returns the recorded frames.
func (s *Sink) Frames() [][]int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]int16(nil), s.frames...)
}

// Samples returns all recorded frames joined.
func (s *Sink) Samples() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int16
	for _, f := range s.frames {
		out = append(out, f...)
	}
	return out
}

// Closed reports whether Close was called.
func (s *Sink) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close marks the sink closed.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// StepClock is a media.Clock whose SleepUntil returns at once, moving the
// clock to the wake-up time first. OnSleep, if set before use, runs inside
// every SleepUntil after the clock moved, on the sleeper's goroutine, with
// the number of sleeps so far (1 for the first); it is where a test injects
// packets between ticks or cancels the context to stop a loop after a given
// number of ticks. A SleepUntil returns ctx.Err() if ctx has ended after
// OnSleep ran.
type StepClock struct {
	mu      sync.Mutex
	now     time.Time
	sleeps  int
	wakes   []time.Time
	OnSleep func(n int, now time.Time)
}

// NewStepClock returns a StepClock reading start.
func NewStepClock(start time.Time) *StepClock {
	return &StepClock{now: start}
}

// Now returns the clock's time.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *StepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// SleepUntil moves the clock to t if t is later, runs OnSleep and returns.
func (c *StepClock) SleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.sleeps++
	c.wakes = append(c.wakes, t)
	n, now, hook := c.sleeps, c.now, c.OnSleep
	c.mu.Unlock()
	if hook != nil {
		hook(n, now)
	}
	return ctx.Err()
}

// Wakes returns the times SleepUntil was asked to wake at, in order.
func (c *StepClock) Wakes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.wakes...)
}
