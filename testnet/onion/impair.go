package onion

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Impairment is trouble imposed on one node's onion traffic from outside:
// a cut drops every packet the node sends or receives, a loss window drops
// each at random. A node's successive endpoints (across emulated daemon
// restarts) share one. The zero value is unusable; a nil *Impairment
// drops nothing. It is safe for concurrent use.
type Impairment struct {
	mu        sync.Mutex
	rnd       *rand.Rand
	cutUntil  time.Time
	lossUntil time.Time
	lossRate  float64
	cuts      int
	losses    int
	dropped   uint64
}

// NewImpairment returns an Impairment with nothing imposed; seed 0 picks a
// random seed for the loss draws.
func NewImpairment(seed uint64) *Impairment {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Impairment{rnd: rand.New(rand.NewPCG(seed, ^seed))}
}

// Cut drops all traffic for d from now (replacing a cut in progress).
func (im *Impairment) Cut(d time.Duration) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.cutUntil = time.Now().Add(d)
	im.cuts++
}

// Loss drops each packet with probability rate for d from now.
func (im *Impairment) Loss(d time.Duration, rate float64) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.lossUntil, im.lossRate = time.Now().Add(d), rate
	im.losses++
}

// CutUntil is when the current cut ends; zero or past if none.
func (im *Impairment) CutUntil() time.Time {
	if im == nil {
		return time.Time{}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.cutUntil
}

// Drop reports whether the next packet is to be dropped, and counts it.
func (im *Impairment) Drop() bool {
	if im == nil {
		return false
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	now := time.Now()
	drop := now.Before(im.cutUntil) ||
		(now.Before(im.lossUntil) && im.rnd.Float64() < im.lossRate)
	if drop {
		im.dropped++
	}
	return drop
}

// ImpairmentStats counts what an Impairment did.
type ImpairmentStats struct {
	Cuts    int    `json:"cuts"`
	Losses  int    `json:"loss_windows"`
	Dropped uint64 `json:"dropped"`
	// CutLeftMS is what remains of a cut in progress, in milliseconds.
	CutLeftMS int64 `json:"cut_left_ms,omitempty"`
}

// Stats returns the counters so far.
func (im *Impairment) Stats() ImpairmentStats {
	if im == nil {
		return ImpairmentStats{}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	s := ImpairmentStats{Cuts: im.cuts, Losses: im.losses, Dropped: im.dropped}
	if left := time.Until(im.cutUntil); left > 0 {
		s.CutLeftMS = left.Milliseconds()
	}
	return s
}
