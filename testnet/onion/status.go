package onion

import (
	"slices"
	"strings"
	"time"
)

// Status is a snapshot of an endpoint's paths and sessions.
type Status struct {
	// Path is the current path's relays, first hop first; empty if none.
	Path []string `json:"path"`
	// PathAgeS is the current path's age in seconds.
	PathAgeS float64 `json:"path_age_s"`
	// PathRTTMS is the round trip to the introduction relay at the last
	// probe, in milliseconds.
	PathRTTMS float64 `json:"path_rtt_ms"`
	// PathsBuilt, PathsRebuilt and PathsExpired count first builds,
	// rebuilds after a dead path and replacements of expired paths.
	PathsBuilt   int64 `json:"paths_built"`
	PathsRebuilt int64 `json:"paths_rebuilt"`
	PathsExpired int64 `json:"paths_expired"`
	// Swaps counts session replacements.
	Swaps int64 `json:"swaps"`
	// Sessions lists the peers, by address.
	Sessions []SessionStatus `json:"sessions"`
}

// SessionStatus is one peer's session state.
type SessionStatus struct {
	Peer string `json:"peer"`
	// Ready says packets can be sent to the peer.
	Ready bool `json:"ready"`
	// Outbound: this node looked the peer up and holds a session to it;
	// Inbound: the peer said it holds one to this node.
	Outbound bool `json:"outbound"`
	Inbound  bool `json:"inbound"`
	// Swapping: the session pair is replaced periodically; NextSwapInMS
	// is the time to the next replacement.
	Swapping     bool  `json:"swapping"`
	Swaps        int   `json:"swaps"`
	NextSwapInMS int64 `json:"next_swap_in_ms,omitempty"`
	// Held is the number of packets held by a stall in progress.
	Held int `json:"held,omitempty"`
}

// Status returns the endpoint's current state.
func (e *Endpoint) Status() Status {
	s := Status{
		PathsBuilt:   e.pstats.built.Load(),
		PathsRebuilt: e.pstats.rebuilt.Load(),
		PathsExpired: e.pstats.expired.Load(),
		Swaps:        e.swaps.Load(),
		Sessions:     []SessionStatus{},
		Path:         []string{},
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.current; p != nil {
		for _, r := range p.relays {
			s.Path = append(s.Path, r.Addr.String())
		}
		s.PathAgeS = now.Sub(p.builtAt).Seconds()
		s.PathRTTMS = float64(p.rtt.Load()) / 1e6
	}
	for a, p := range e.peers {
		ss := SessionStatus{Peer: a.String(), Ready: p.ready, Outbound: p.outbound, Inbound: p.inbound}
		if w := p.swap; w != nil {
			ss.Swapping, ss.Swaps, ss.Held = true, w.swaps, len(w.held)
			ss.NextSwapInMS = w.next.Sub(now).Milliseconds()
		}
		s.Sessions = append(s.Sessions, ss)
	}
	slices.SortFunc(s.Sessions, func(a, b SessionStatus) int { return strings.Compare(a.Peer, b.Peer) })
	return s
}
