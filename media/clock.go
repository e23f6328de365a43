package media

import (
	"context"
	"time"
)

// Clock is the time source of the Sender and Receiver loops, so that tests
// can run them without waiting (see mediatest.StepClock).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// SleepUntil returns when the clock reaches t (at once if it has), or
	// with ctx.Err() when ctx ends first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// SystemClock is the real time Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// SleepUntil waits on a timer until t or until ctx ends.
func (SystemClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// schedule is a drift-free frame schedule: tick i is due at start + i·period
// whatever the lateness of earlier ticks. When the loop falls more than
// resyncAfter behind (the process was stopped, a write blocked), it starts
// the schedule again from now instead of bursting to catch up.
type schedule struct {
	clock  Clock
	start  time.Time
	period time.Duration
	tick   int64
}

// resyncAfter is how far behind schedule a loop may fall before it re-anchors.
const resyncAfter = 200 * time.Millisecond

// newSchedule starts a schedule at the clock's current time; tick 0 is due at once.
func newSchedule(c Clock, period time.Duration) *schedule {
	return &schedule{clock: c, start: c.Now(), period: period}
}

// wait sleeps until the next tick is due and reports whether the schedule
// had to be re-anchored (how far behind it was, or 0).
func (s *schedule) wait(ctx context.Context) (behind time.Duration, err error) {
	due := s.start.Add(time.Duration(s.tick) * s.period)
	if late := s.clock.Now().Sub(due); late > resyncAfter {
		s.start, s.tick = s.clock.Now(), 0
		due, behind = s.start, late
	}
	s.tick++
	return behind, s.clock.SleepUntil(ctx, due)
}
