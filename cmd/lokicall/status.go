package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lokicall/lokicall/call"
)

// liveFigures are the live quality figures the status line shows besides
// state and time. They are fed from the call's live statistics (see
// live.go); until the first report, or when the call package reports none,
// the status line shows "–" for each.
type liveFigures struct {
	RTT, Jitter, JitterBuffer time.Duration
	LossPercent               float64
	MOS                       float64
	// MicDBFS is the microphone level in dBFS (0 is full scale); -Inf or
	// below -90 is shown as silence.
	MicDBFS float64
}

// plainStatusEvery is how often a call's status is printed as a plain line
// when stdout is not a terminal.
const plainStatusEvery = 15 * time.Second

// callScreen is the terminal side of one call: it follows the call's
// events, draws the status line, and turns the keys m and q into mute and
// hang-up. It is safe for concurrent use.
type callScreen struct {
	g     *globalOptions
	t     *terminal
	muted *atomic.Bool
	// hangUp ends the call (cancels its context); set by the command.
	hangUp func()
	// callee is set by listen: while ringing, the prompt owns the line.
	callee bool
	// stopRun ends run; set by listen.
	stopRun func()

	// began is when the call arrived; set by listen.
	began time.Time

	mu        sync.Mutex
	peer      string // as shown: contact name or short address
	state     call.State
	since     time.Time // when the state began
	ringStart time.Time
	active    time.Time // when audio started
	ended     time.Time
	live      *liveFigures
	userHung  bool
	lastEnd   call.Event
	// silentSince is when the peer's audio stopped, while the call reports
	// an interruption; zero otherwise.
	silentSince time.Time
	// lokinetDown: this node's Lokinet went away and is not back yet.
	lokinetDown bool
	over        bool // the call has ended: no more status line
}

func newCallScreen(g *globalOptions, muted *atomic.Bool) *callScreen {
	return &callScreen{g: g, t: g.term, muted: muted}
}

// event follows the call's events; it is part of the call's Emitter.
func (s *callScreen) event(ev call.Event) {
	s.mu.Lock()
	if ev.Peer != "" && strings.HasSuffix(ev.Peer, ".loki") {
		s.peer = s.g.displayName(ev.Peer)
	}
	if ev.Kind == call.EventStats {
		// The statistics block follows: the status line is done.
		s.over = true
	}
	if ev.Kind == call.EventInterruption && ev.Interruption != nil {
		if ev.Interruption.Phase == call.InterruptionStarted {
			s.silentSince = ev.Time.Add(-msDuration(ev.Interruption.SilentMS))
		} else {
			s.silentSince = time.Time{}
		}
	}
	if ev.Kind == call.EventProgress && (ev.Reason == call.ProgressLokinetDown || ev.Reason == call.ProgressLokinetBack) {
		s.lokinetDown = ev.Reason == call.ProgressLokinetDown
	}
	if ev.Kind == call.EventCaller && s.state == "" {
		s.state, s.since = call.StateIncoming, ev.Time
	}
	if ev.Kind == call.EventState {
		s.state, s.since = ev.State, ev.Time
		switch ev.State {
		case call.StateRinging:
			if s.ringStart.IsZero() {
				s.ringStart = ev.Time
			}
		case call.StateActive:
			s.active = ev.Time
		case call.StateEnded:
			s.ended = ev.Time
			s.lastEnd = ev
		}
	}
	if s.state == call.StateEnded {
		s.over = true
	}
	ended := s.over
	s.mu.Unlock()
	if ended {
		s.t.clearStatus()
		return
	}
	s.draw()
}

// live records new live figures.
func (s *callScreen) setLive(f liveFigures) {
	s.mu.Lock()
	s.live = &f
	s.mu.Unlock()
	s.draw()
}

// key handles a key press during the call.
func (s *callScreen) key(b byte) {
	switch b {
	case 'm', 'M':
		s.muted.Store(!s.muted.Load())
		s.draw()
	case 'q', 'Q':
		s.mu.Lock()
		s.userHung = true
		h := s.hangUp
		s.mu.Unlock()
		if h != nil {
			h()
		}
	}
}

// userHungUp reports whether the person pressed q.
func (s *callScreen) userHungUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userHung
}

// run redraws the status line every second (the call's duration changes)
// until ctx ends; with a stdout that is not a terminal it prints a plain
// status line every plainStatusEvery instead, and with --json nothing.
func (s *callScreen) run(ctx context.Context) {
	if s.g.json {
		return
	}
	every := time.Second
	if !s.t.outTTY {
		every = plainStatusEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.t.outTTY {
				s.draw()
				continue
			}
			s.mu.Lock()
			active := s.state == call.StateActive
			s.mu.Unlock()
			if active {
				fmt.Fprintln(s.t, "status: "+s.line(time.Now()))
			}
		}
	}
}

// draw puts the current status on the terminal's status line.
func (s *callScreen) draw() {
	if s.g.json || !s.t.outTTY {
		return
	}
	s.mu.Lock()
	st, over := s.state, s.over
	s.mu.Unlock()
	if over || st == "" || st == call.StateIncoming || st == call.StateRinging && s.callee {
		// Nothing yet, over, or the ringing prompt owns the line.
		return
	}
	s.t.setStatus(s.line(time.Now()))
}

// line renders the status line.
func (s *callScreen) line(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	if !s.silentSince.IsZero() && s.state == call.StateActive {
		b.WriteString(interruptedLine(s.peer, now.Sub(s.silentSince), s.lokinetDown))
		if s.t.interactive() {
			b.WriteString("  q hang up")
		}
		return b.String()
	}
	b.WriteString(stateMark(s.state))
	b.WriteString(" ")
	b.WriteString(string(s.state))
	switch {
	case !s.active.IsZero():
		b.WriteString(" " + clock(now.Sub(s.active)))
	case !s.ringStart.IsZero():
		b.WriteString(" " + clock(now.Sub(s.ringStart)))
	}
	if s.peer != "" {
		b.WriteString("  " + s.peer)
	}
	if s.state == call.StateActive || s.state == call.StateConnected || s.live != nil {
		f := s.live
		dash := "–"
		ms := func(d time.Duration) string {
			if f == nil {
				return dash
			}
			return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
		}
		loss, mos, mic := dash, dash, dash
		if f != nil {
			loss = fmt.Sprintf("%.1f%%", f.LossPercent)
			if f.MOS > 0 {
				mos = fmt.Sprintf("%.1f", f.MOS)
			}
			mic = meter(f.MicDBFS)
		}
		var rtt, jit, jb string
		if f != nil {
			rtt, jit, jb = ms(f.RTT), ms(f.Jitter), ms(f.JitterBuffer)
		} else {
			rtt, jit, jb = dash, dash, dash
		}
		fmt.Fprintf(&b, "  rtt %s  jitter %s  loss %s  buffer %s  MOS %s  mic %s", rtt, jit, loss, jb, mos, mic)
	}
	if s.muted.Load() {
		b.WriteString("  [MUTED]")
	}
	if s.t.interactive() {
		if s.muted.Load() {
			b.WriteString("  m unmute  q hang up")
		} else {
			b.WriteString("  m mute  q hang up")
		}
	}
	return b.String()
}

// interruptedLine is the status while no audio arrives from peer: what is
// wrong, for how long, and that the call is trying to get it back (or, while
// this node's Lokinet is away, waiting for it).
func interruptedLine(peer string, silent time.Duration, lokinetDown bool) string {
	if peer == "" {
		peer = "the other side"
	}
	doing := "reconnecting"
	if lokinetDown {
		doing = "waiting for Lokinet to come back"
	}
	return fmt.Sprintf("⚠ no audio from %s for %s — %s", peer, seconds(silent), doing)
}

func stateMark(st call.State) string {
	switch st {
	case call.StateActive:
		return "●"
	case call.StateEnded:
		return "■"
	default:
		return "…"
	}
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int(d / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// meter draws a level in dBFS as five bars over -60..0 dB plus the number.
func meter(dbfs float64) string {
	if math.IsInf(dbfs, -1) || math.IsNaN(dbfs) || dbfs < -90 {
		return "▯▯▯▯▯ silent"
	}
	bars := int(math.Round((dbfs + 60) / 12))
	bars = max(0, min(5, bars))
	return strings.Repeat("▮", bars) + strings.Repeat("▯", 5-bars) + fmt.Sprintf(" %.0fdB", dbfs)
}
