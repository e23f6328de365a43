package onion

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// SwapMode says whether the endpoint emulates Lokinet 0.9.11's half-open
// session replacement.
type SwapMode string

// Session swap modes.
const (
	// SwapOff never replaces a session.
	SwapOff SwapMode = "off"
	// SwapAuto opens sessions as Lokinet does (a lookup answered from an
	// incoming session opens none) and replaces a node's session with a
	// peer only while both hold a session to each other.
	SwapAuto SwapMode = "auto"
	// SwapForce treats every session as one of a pair, as if both nodes
	// had looked each other up, from the first contact.
	SwapForce SwapMode = "force"
)

// Session swap defaults, Lokinet 0.9.11's (testnet/traces/README.md): a
// session that never sees replies on its own paths is declared half-open
// after 2 × its 10 s path-build timeout + its 30 s alignment timeout and
// replaced; traffic stalled 240–550 ms on each replacement.
const (
	DefaultSwapPeriod   = 50 * time.Second
	DefaultSwapStallMin = 240 * time.Millisecond
	DefaultSwapStallMax = 550 * time.Millisecond
)

// ParseSwapMode parses "off", "auto" or "force".
func ParseSwapMode(s string) (SwapMode, error) {
	switch m := SwapMode(s); m {
	case SwapOff, SwapAuto, SwapForce:
		return m, nil
	}
	return "", fmt.Errorf("%w: session swap %q (off, auto or force)", ErrBadConfig, s)
}

// ParseStallRange parses "MIN-MAX" (e.g. "240ms-550ms") or a single
// duration, into a range with 0 <= MIN <= MAX.
func ParseStallRange(s string) (lo, hi time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	if lo, err = time.ParseDuration(strings.TrimSpace(a)); err == nil {
		hi, err = time.ParseDuration(strings.TrimSpace(b))
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: stall range %q: %w", ErrBadConfig, s, err)
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("%w: stall range %q: want 0 <= MIN <= MAX", ErrBadConfig, s)
	}
	return lo, hi, nil
}

// SwapConfig configures session replacement.
type SwapConfig struct {
	// Mode is SwapOff (the zero value means off too), SwapAuto or SwapForce.
	Mode SwapMode
	// Period is the time between two replacements of one session, the
	// first one Period after the session was opened; DefaultSwapPeriod if
	// zero.
	Period time.Duration
	// StallMin and StallMax bound the stall of one replacement, drawn
	// uniformly; both zero means the defaults.
	StallMin, StallMax time.Duration
	// Seed seeds the stall draws; zero picks a random seed.
	Seed uint64
}

func (c SwapConfig) withDefaults() SwapConfig {
	if c.Mode == "" {
		c.Mode = SwapOff
	}
	if c.Period <= 0 {
		c.Period = DefaultSwapPeriod
	}
	if c.StallMin == 0 && c.StallMax == 0 {
		c.StallMin, c.StallMax = DefaultSwapStallMin, DefaultSwapStallMax
	}
	if c.StallMax < c.StallMin {
		c.StallMax = c.StallMin
	}
	return c
}

// swapState is one session being replaced every period: while a
// replacement stalls it, the data this node sends to the peer is held, and
// delivered in order, as a burst, when the stall ends.
type swapState struct {
	next      time.Time   // the next replacement
	timer     *time.Timer // fires at next
	holdUntil time.Time   // end of the current stall
	flushing  bool        // held packets are being sent
	held      [][]byte    // data packets sent during the stall
	swaps     int
}

// swapper draws stall lengths.
type swapper struct {
	cfg SwapConfig
	rnd *rand.Rand // under the endpoint's mutex
}

func newSwapper(cfg SwapConfig) *swapper {
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &swapper{cfg: cfg, rnd: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
}

func (s *swapper) stall() time.Duration {
	span := s.cfg.StallMax - s.cfg.StallMin
	if span <= 0 {
		return s.cfg.StallMin
	}
	return s.cfg.StallMin + time.Duration(s.rnd.Int64N(int64(span)+1))
}

// startSwapsLocked schedules p's replacements once both nodes hold a
// session to each other; e.mu must be held.
func (e *Endpoint) startSwapsLocked(p *peer) {
	if e.swap.cfg.Mode == SwapOff || p.swap != nil || !p.outbound || !p.inbound || p.openedAt.IsZero() || e.stopped {
		return
	}
	period := e.swap.cfg.Period
	now := time.Now()
	// The first replacement after now, in the phase of the opening.
	next := p.openedAt.Add(period * time.Duration(max(now.Sub(p.openedAt)/period+1, 1)))
	s := &swapState{next: next}
	s.timer = time.AfterFunc(next.Sub(now), func() { e.replaceSession(p) })
	p.swap = s
	e.log.Info("session pair", "peer", p.addr, "first_swap_in_ms", next.Sub(now).Milliseconds())
}

// replaceSession stalls p's session for a drawn time and schedules the
// next replacement.
func (e *Endpoint) replaceSession(p *peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := p.swap
	if s == nil || e.stopped {
		return
	}
	stall := e.swap.stall()
	now := time.Now()
	s.holdUntil = now.Add(stall)
	s.swaps++
	e.swaps.Add(1)
	time.AfterFunc(stall, func() { e.flushHeld(p) })
	s.next = s.next.Add(e.swap.cfg.Period)
	s.timer.Reset(s.next.Sub(now))
	e.log.Info("session replaced", "peer", p.addr, "stall_ms", stall.Milliseconds(), "swaps", s.swaps)
}

// holdLocked keeps a data packet for p while its session is stalled (or
// packets held by the stall are still waiting to be sent, so that order is
// kept) and reports whether it did; e.mu must be held.
func (e *Endpoint) holdLocked(p *peer, body []byte, now time.Time) bool {
	s := p.swap
	if s == nil || (!s.flushing && len(s.held) == 0 && !now.Before(s.holdUntil)) {
		return false
	}
	s.held = append(s.held, append([]byte(nil), body...))
	return true
}

// flushHeld sends the packets held during a stall, in order.
func (e *Endpoint) flushHeld(p *peer) {
	e.mu.Lock()
	s := p.swap
	if s == nil || s.flushing {
		e.mu.Unlock()
		return
	}
	s.flushing = true
	for len(s.held) > 0 && !e.stopped {
		batch := s.held
		s.held = nil
		e.mu.Unlock()
		for _, b := range batch {
			if err := e.sendE2EUnheld(p.addr, e2eData, b); err != nil {
				e.log.Debug("held packet not sent", "peer", p.addr, "err", err)
			}
		}
		e.mu.Lock()
	}
	if n := len(s.held); n > 0 {
		s.held = nil
	}
	s.flushing = false
	e.mu.Unlock()
}

// stopSwapsLocked ends every session's replacement schedule; e.mu must be
// held.
func (e *Endpoint) stopSwapsLocked() {
	e.stopped = true
	for _, p := range e.peers {
		if p.swap != nil {
			p.swap.timer.Stop()
			p.swap.held = nil
		}
	}
}
