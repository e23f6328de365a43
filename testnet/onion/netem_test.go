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

// The Gilbert–Elliott link's loss rate and loss bursts match the model's
// closed forms: mean loss (R·LossGood + P·LossBad)/(P+R) and, with a
// lossless good state and a lossy bad one, a geometric burst length of mean
// 1/R with P(burst = 1) = R. Seeds are fixed, so the figures are the same on
// every run; the tolerances allow for the sampling error of the 2 million
// packets (about 1 % for the burst mean).
func TestLinkGilbertElliott(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ge   GilbertElliott
		seed uint64
	}{
		{"default", DefaultGE, 11},
		{"long bursts", GilbertElliott{P: 0.01, R: 0.1, LossGood: 0, LossBad: 1}, 12},
		{"lossy both states", GilbertElliott{P: 0.02, R: 0.3, LossGood: 0.01, LossBad: 0.6}, 13},
	}
	const n = 2_000_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ge.Validate(); err != nil {
				t.Fatal(err)
			}
			l := newLink(LinkConfig{LossModel: LossGilbert, GE: tt.ge, Seed: tt.seed})
			var lost, bursts, ones, run int
			for range n {
				if _, drop := l.sample(); drop {
					lost++
					run++
					continue
				}
				if run > 0 {
					bursts++
					if run == 1 {
						ones++
					}
				}
				run = 0
			}
			got, want := float64(lost)/n, tt.ge.MeanLoss()
			t.Logf("mean loss %.4f (model %.4f); %d bursts", got, want, bursts)
			if math.Abs(got-want) > 0.05*want {
				t.Errorf("mean loss %.4f, model %.4f", got, want)
			}
			if tt.ge.LossGood != 0 || tt.ge.LossBad != 1 {
				return
			}
			mean := float64(lost) / float64(bursts)
			t.Logf("mean burst %.3f packets (model %.3f); P(burst=1) %.3f (model %.3f)",
				mean, tt.ge.MeanBadRun(), float64(ones)/float64(bursts), tt.ge.R)
			if math.Abs(mean-tt.ge.MeanBadRun()) > 0.05*tt.ge.MeanBadRun() {
				t.Errorf("mean burst %.3f, model %.3f", mean, tt.ge.MeanBadRun())
			}
			if p1 := float64(ones) / float64(bursts); math.Abs(p1-tt.ge.R) > 0.1*tt.ge.R {
				t.Errorf("P(burst=1) %.3f, model %.3f", p1, tt.ge.R)
			}
		})
	}
	// The uniform model at the same mean loss has bursts of 1/(1-loss).
	l := newLink(LinkConfig{Loss: DefaultGE.MeanLoss(), Seed: 14})
	var lost, bursts, run int
	for range n {
		if _, drop := l.sample(); drop {
			lost++
			run++
			continue
		}
		if run > 0 {
			bursts++
		}
		run = 0
	}
	if mean := float64(lost) / float64(bursts); mean > 1.05 {
		t.Errorf("uniform loss: mean burst %.3f, want about 1", mean)
	}
}

func TestGilbertElliottValidate(t *testing.T) {
	t.Parallel()
	for _, g := range []GilbertElliott{{P: -0.1, R: 0.5}, {P: 0.1, R: 0}, {P: 0.1, R: 0.5, LossBad: 1.5}} {
		if err := g.Validate(); err == nil {
			t.Errorf("%+v accepted", g)
		}
	}
	if _, err := ParseLossModel("bursty"); err == nil {
		t.Error("loss model \"bursty\" accepted")
	}
}
