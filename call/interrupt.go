package call

import (
	"sort"
	"sync"
	"time"
)

// watchInterval is how often the session loop checks, while audio runs,
// whether the peer's audio has stopped.
const watchInterval = 100 * time.Millisecond

// maxRTTSamples bounds the round-trip samples a call keeps for its median
// (about an hour at one a second; later samples replace the oldest).
const maxRTTSamples = 4096

// liveWindow is the span the live figures cover.
const liveWindow = 5 * time.Second

// resumption is the first packet of the peer's audio after more than
// Config.InterruptAfter without any.
type resumption struct {
	at   time.Time
	prev time.Time // the packet before it; zero if it is the first
}

// noteRTP records the arrival of a packet of the peer's audio and tells the
// loop when it ends a silence.
func (s *session) noteRTP(now time.Time) {
	prev := s.lastRTP.Swap(now.UnixNano())
	var p time.Time
	if prev != 0 {
		p = time.Unix(0, prev)
	}
	if prev == 0 || now.Sub(p) > s.cfg.interruptAfter() {
		select {
		case s.resumed <- resumption{at: now, prev: p}:
		default:
		}
	}
}

// lastAudio is when the peer's audio last arrived, or when audio started if
// none has arrived since.
func (s *session) lastAudio() time.Time {
	last := time.Unix(0, s.lastRTP.Load())
	if s.lastRTP.Load() == 0 || last.Before(s.mediaStarted) {
		return s.mediaStarted
	}
	return last
}

// quality holds the figures the loop, the live sampler and the final
// statistics share.
type quality struct {
	mu sync.Mutex
	// rtts are round-trip samples in ms, for the robust path RTT.
	rtts []float64
	next int // where the next sample goes once rtts is full
	// window holds the cumulative counters of the last liveWindow and a bit.
	window []counters

	interruptions int
	interrupted   time.Duration
	// silentSince is when the ongoing interruption's silence began; zero
	// when audio flows.
	silentSince time.Time
	recoveries  int
}

// counters are a call's cumulative receive counters at one time.
type counters struct {
	at                time.Time
	received          uint64
	lost              int64
	played, concealed uint64
	framesLost        uint64
}

func (q *quality) addRTT(ms float64) {
	if ms <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.rtts) < maxRTTSamples {
		q.rtts = append(q.rtts, ms)
		return
	}
	q.rtts[q.next] = ms
	q.next = (q.next + 1) % maxRTTSamples
}

// medianRTT is the median of the samples, 0 without any.
func (q *quality) medianRTT() float64 {
	q.mu.Lock()
	s := append([]float64(nil), q.rtts...)
	q.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// push adds a counters snapshot and returns the oldest one still inside
// liveWindow of it (the snapshot itself when it is the only one).
func (q *quality) push(c counters) counters {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.window = append(q.window, c)
	// Keep one snapshot at or before the window's start.
	for len(q.window) > 2 && c.at.Sub(q.window[1].at) >= liveWindow {
		q.window = q.window[1:]
	}
	return q.window[0]
}

// startInterruption records that the peer's audio stopped at since.
func (q *quality) startInterruption(since time.Time) {
	q.mu.Lock()
	q.silentSince = since
	q.mu.Unlock()
}

// endInterruption counts an interruption whose silence ended at.
func (q *quality) endInterruption(at time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	gap := at.Sub(q.silentSince)
	q.interruptions++
	q.interrupted += gap
	q.silentSince = time.Time{}
	return gap
}

// totals are the interruptions so far, an ongoing one counted up to now.
func (q *quality) totals(now time.Time) (n int, d time.Duration, recoveries int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, d = q.interruptions, q.interrupted
	if !q.silentSince.IsZero() {
		n++
		d += now.Sub(q.silentSince)
	}
	return n, d, q.recoveries
}

// interrupted reports whether an interruption is going on, and since when.
func (q *quality) interruptedSince() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.silentSince, !q.silentSince.IsZero()
}

func (q *quality) addRecovery() {
	q.mu.Lock()
	q.recoveries++
	q.mu.Unlock()
}

// silenceBegan is when the ongoing interruption's silence began; zero when
// there is none.
func (s *session) silenceBegan() time.Time {
	t, _ := s.quality.interruptedSince()
	return t
}

// onWatch runs every watchInterval while audio runs: it reports an
// interruption when the peer's audio has stopped for longer than
// Config.InterruptAfter, and goes on to recovery and, past the media
// timeout, the end of the call.
func (s *session) onWatch(now time.Time) *ending {
	last := s.lastAudio()
	silent := now.Sub(last)
	since, interrupted := s.quality.interruptedSince()
	if !interrupted {
		if silent <= s.cfg.interruptAfter() {
			return nil
		}
		s.quality.startInterruption(last)
		since = last
		s.log.Warn("no audio from the peer", "for", silent.Round(time.Millisecond))
		s.emit.emit(Event{Kind: EventInterruption, CallID: s.callID, Peer: s.peer.String(),
			Interruption: &Interruption{Phase: InterruptionStarted, SilentMS: ms(silent)}})
	}
	return s.whileInterrupted(now, now.Sub(since))
}

// onResumed: audio from the peer arrived after a silence.
func (s *session) onResumed(r resumption) {
	if s.loop.phase == phaseActive {
		s.reportActive()
	}
	if _, interrupted := s.quality.interruptedSince(); !interrupted {
		return
	}
	rtts, known := s.recoveryRTTs(r.at)
	gap := s.quality.endInterruption(r.at)
	ev := &Interruption{Phase: InterruptionEnded, GapMS: ms(gap)}
	if known {
		ev.RecoveryRTTs = &rtts
	}
	s.log.Info("audio from the peer is back", "gap", gap.Round(time.Millisecond), "recovery_rtts", rtts, "known", known)
	s.emit.emit(Event{Kind: EventInterruption, CallID: s.callID, Peer: s.peer.String(), Interruption: ev})
	s.recovered()
}
