package onion

import (
	"math"
	"testing"
	"time"
)

func TestLinkSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LinkConfig
	}{
		{"perfect", LinkConfig{Seed: 1}},
		{"default", LinkConfig{Delay: DefaultDelay, Jitter: DefaultJitter, Seed: 2}},
		{"lossy", LinkConfig{Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.1, Seed: 3}},
		{"all lost", LinkConfig{Loss: 1, Seed: 4}},
	}
	const n = 20000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(tt.cfg)
			var dropped int
			var sum time.Duration
			lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
			for range n {
				d, drop := l.sample()
				if drop {
					dropped++
					continue
				}
				sum += d
				lo, hi = min(lo, d), max(hi, d)
			}
			if got := float64(dropped) / n; math.Abs(got-tt.cfg.Loss) > 0.01 {
				t.Errorf("loss %.3f, want %.3f", got, tt.cfg.Loss)
			}
			if dropped == n {
				return
			}
			wantLo := max(tt.cfg.Delay-tt.cfg.Jitter, 0)
			if lo < wantLo || hi > tt.cfg.Delay+tt.cfg.Jitter {
				t.Errorf("delay range [%v, %v], want within [%v, %v]", lo, hi, wantLo, tt.cfg.Delay+tt.cfg.Jitter)
			}
			mean := sum / time.Duration(n-dropped)
			// Clipping at zero raises the mean when jitter exceeds delay.
			if tt.cfg.Jitter <= tt.cfg.Delay && (mean-tt.cfg.Delay).Abs() > tt.cfg.Jitter/10+time.Microsecond {
				t.Errorf("mean delay %v, want about %v", mean, tt.cfg.Delay)
			}
		})
	}
}

func TestLinkSendDelays(t *testing.T) {
	t.Parallel()
	l := newLink(LinkConfig{Delay: 20 * time.Millisecond, Seed: 5})
	done := make(chan time.Time, 1)
	start := time.Now()
	if l.send(func() { done <- time.Now() }) {
		t.Fatal("dropped on a lossless link")
	}
	if got := (<-done).Sub(start); got < 20*time.Millisecond {
		t.Fatalf("delivered after %v, want at least 20ms", got)
	}
}
