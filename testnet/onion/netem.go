package onion

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Default link emulation. DESIGN.md §3: on the live network a client-to-client
// round trip crosses about 2 × 4 relays and takes about 250 ms. A packet from
// one node to another is forwarded once by each of the 8 relays, so a round
// trip passes 16 relay egress links: 250 ms / 16 ≈ 15.6 ms. DefaultDelay is
// rounded down to 15 ms (240 ms modelled) to leave room for processing, and
// the jitter is kept small so it does not reorder 20 ms audio packets.
const (
	DefaultDelay  = 15 * time.Millisecond
	DefaultJitter = 2 * time.Millisecond
	DefaultLoss   = 0.0
)

// LinkConfig is the emulation applied to every packet a relay sends: kernel
// netem being unavailable on the testnet's machines, the relay delays and
// drops its own egress. The zero value is a perfect link.
type LinkConfig struct {
	// Delay is the one-way delay added to every packet.
	Delay time.Duration
	// Jitter is the half-width of a uniform distribution added to Delay
	// (the result never goes below zero). Packets may be reordered when
	// Jitter exceeds their spacing, as on a real path.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a packet is dropped, with
	// LossModel LossUniform.
	Loss float64
	// LossModel picks how packets are lost: LossUniform (the zero value)
	// drops each packet independently with probability Loss;
	// LossGilbert uses GE instead.
	LossModel LossModel
	// GE is the two-state loss model used with LossGilbert.
	GE GilbertElliott
	// Seed seeds the random source; zero picks a random seed.
	Seed uint64
}

// LossModel names a packet loss model.
type LossModel string

// Loss models.
const (
	// LossUniform drops packets independently with a fixed probability.
	LossUniform LossModel = "uniform"
	// LossGilbert drops packets by a two-state Gilbert–Elliott model.
	LossGilbert LossModel = "gilbert"
)

// ParseLossModel parses "uniform" or "gilbert".
func ParseLossModel(s string) (LossModel, error) {
	switch m := LossModel(s); m {
	case LossUniform, LossGilbert:
		return m, nil
	}
	return "", fmt.Errorf("%w: loss model %q (uniform or gilbert)", ErrBadConfig, s)
}

// GilbertElliott is a two-state Markov loss model: a good and a bad state,
// each with its own loss probability. Before each packet the state moves
// from good to bad with probability P and from bad to good with probability
// R; the packet is then lost with the state's probability. In the long run
// the chain is bad for a share P/(P+R) of packets (MeanLoss), and a stay in
// the bad state lasts 1/R packets on average (geometric).
type GilbertElliott struct {
	// P is the probability of moving from the good to the bad state.
	P float64
	// R is the probability of moving from the bad to the good state.
	R float64
	// LossGood is the loss probability in the good state (often 0).
	LossGood float64
	// LossBad is the loss probability in the bad state (often 1).
	LossBad float64
}

// DefaultGE is a bursty model with the same 1 % mean loss as a 1 % uniform
// link but losses in bursts of 4 packets on average (80 ms of 20 ms audio).
var DefaultGE = GilbertElliott{P: 0.0025, R: 0.25, LossGood: 0, LossBad: 1}

// MeanLoss is the model's long-run loss rate:
// (R·LossGood + P·LossBad) / (P + R).
func (g GilbertElliott) MeanLoss() float64 {
	if g.P+g.R == 0 {
		return g.LossGood
	}
	return (g.R*g.LossGood + g.P*g.LossBad) / (g.P + g.R)
}

// MeanBadRun is the mean number of consecutive packets spent in the bad
// state, 1/R: with LossGood 0 and LossBad 1 it is the mean loss burst.
func (g GilbertElliott) MeanBadRun() float64 { return 1 / g.R }

// Validate reports a probability outside [0, 1], or an R of 0 (a bad state
// that never ends).
func (g GilbertElliott) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"p", g.P}, {"r", g.R}, {"loss-good", g.LossGood}, {"loss-bad", g.LossBad}} {
		if f.v < 0 || f.v > 1 {
			return fmt.Errorf("%w: Gilbert–Elliott %s %v not in [0, 1]", ErrBadConfig, f.name, f.v)
		}
	}
	if g.R == 0 {
		return fmt.Errorf("%w: Gilbert–Elliott r is 0: the bad state would never end", ErrBadConfig)
	}
	return nil
}

// DefaultLink is the link emulation relays use unless told otherwise.
func DefaultLink() LinkConfig {
	return LinkConfig{Delay: DefaultDelay, Jitter: DefaultJitter, Loss: DefaultLoss}
}

// link applies a LinkConfig to outgoing packets.
type link struct {
	cfg LinkConfig
	mu  sync.Mutex
	rnd *rand.Rand
	bad bool // Gilbert–Elliott state
}

func newLink(cfg LinkConfig) *link {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &link{cfg: cfg, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// sample returns the delay for one packet and whether it is dropped.
func (l *link) sample() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost() {
		return 0, true
	}
	d := l.cfg.Delay
	if j := l.cfg.Jitter; j > 0 {
		d += time.Duration(l.rnd.Int64N(int64(2*j)+1)) - j
	}
	return max(d, 0), false
}

// send calls fn now or after the sampled delay, or never if the packet is
// lost. It reports whether the packet was dropped.
func (l *link) send(fn func()) bool {
	d, drop := l.sample()
	switch {
	case drop:
		return true
	case d == 0:
		fn()
	default:
		time.AfterFunc(d, fn)
	}
	return false
}

// lost draws whether the next packet is lost; l.mu must be held.
func (l *link) lost() bool {
	if l.cfg.LossModel != LossGilbert {
		return l.cfg.Loss > 0 && l.rnd.Float64() < l.cfg.Loss
	}
	g := l.cfg.GE
	if l.bad {
		l.bad = l.rnd.Float64() >= g.R
	} else {
		l.bad = l.rnd.Float64() < g.P
	}
	pl := g.LossGood
	if l.bad {
		pl = g.LossBad
	}
	return pl > 0 && l.rnd.Float64() < pl
}
