package onion

import (
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
	// Loss is the probability in [0, 1] that a packet is dropped.
	Loss float64
	// Seed seeds the random source; zero picks a random seed.
	Seed uint64
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
	if l.cfg.Loss > 0 && l.rnd.Float64() < l.cfg.Loss {
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
