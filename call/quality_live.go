package call

import (
	"context"
	"runtime"
	"time"

	"github.com/lokicall/lokicall/media"
)

// LiveInterval is how often Config.OnStats is called while audio flows.
const LiveInterval = time.Second

// LiveStats is a snapshot of a call in progress, for a status line. Delays
// are in milliseconds; RTTMS is a round trip, OneWayMS half of it. Levels
// are in dBFS (media.MinLevel for silence or before any audio).
type LiveStats struct {
	CallID string `json:"call_id"`
	Peer   string `json:"peer"`
	State  State  `json:"state"`
	// DurationMS is how long audio has flowed.
	DurationMS float64 `json:"duration_ms"`
	// WindowS is the span, in seconds, that LossPercent, JitterMS and MOS
	// cover: the most recent seconds of the call, not all of it (the final
	// Stats cover the whole call).
	WindowS float64 `json:"window_s"`
	Muted   bool    `json:"muted"`

	RTTMS       float64 `json:"rtt_ms"`
	OneWayMS    float64 `json:"one_way_ms"`
	JitterMS    float64 `json:"jitter_ms"`
	LossPercent float64 `json:"loss_percent"`

	// JitterBufferMS is the audio buffered ahead of playout now and
	// JitterTargetMS the adaptive buffer's target.
	JitterBufferMS float64 `json:"jitter_buffer_ms"`
	JitterTargetMS float64 `json:"jitter_target_ms"`

	FramesPlayed    uint64 `json:"frames_played"`
	FramesConcealed uint64 `json:"frames_concealed"`
	FramesRecovered uint64 `json:"frames_recovered"`

	// MOS is the E-model estimate as in Stats, over the window.
	MOS float64 `json:"mos"`
	// MicLevelDB is the peak level captured since the previous snapshot
	// (before mute); SpeakerLevelDB the peak level played.
	MicLevelDB     float64 `json:"mic_level_db"`
	SpeakerLevelDB float64 `json:"speaker_level_db"`

	// Goroutines is the process's goroutine count at the snapshot
	// (runtime.NumGoroutine): a soak run watches it for leaks.
	Goroutines int `json:"goroutines"`
}

// liveMeters are the level meters on a call's capture and playout.
type liveMeters struct {
	mic, speaker media.Meter
}

// Live returns the live snapshot of the session now: loss, jitter and MOS
// over the last liveWindow (see sample). It may run while media flows,
// before the peer connection closes.
func (s *session) Live() LiveStats {
	ls, _ := s.sample(time.Now())
	return ls
}

// sample collects the call's figures now, records a round-trip sample and
// the counters for the live window, and returns the live snapshot.
func (s *session) sample(now time.Time) (LiveStats, *Stats) {
	st := s.collectStats()
	rtt := st.RTTMS
	if rtt == 0 {
		rtt = st.ICERTTMS
	}
	s.quality.addRTT(rtt)
	cur := counters{at: now, received: st.PacketsReceived, lost: st.PacketsLost,
		played: st.FramesPlayed, concealed: st.FramesConcealed}
	base := s.quality.push(cur)
	ls := LiveStats{
		CallID:          st.CallID,
		Peer:            st.Peer,
		State:           StateActive,
		DurationMS:      st.MediaMS,
		WindowS:         liveWindow.Seconds(),
		RTTMS:           rtt,
		OneWayMS:        st.OneWayMS,
		JitterMS:        st.JitterMS,
		JitterBufferMS:  st.JitterBufferMS,
		FramesPlayed:    st.FramesPlayed,
		FramesConcealed: st.FramesConcealed,
		FramesRecovered: st.FramesRecovered,
		MicLevelDB:      s.live.mic.Peak(),
		SpeakerLevelDB:  s.live.speaker.Peak(),
		Goroutines:      runtime.NumGoroutine(),
	}
	// Over the window: a path replaced by a rebuild restarts pion's
	// counters, so a counter that went back counts from zero.
	delta := func(now, then int64) int64 {
		if now < then {
			return now
		}
		return now - then
	}
	recv := delta(int64(cur.received), int64(base.received))
	lost := delta(cur.lost, base.lost)
	if lost < 0 {
		lost = 0
	}
	if recv+lost > 0 {
		ls.LossPercent = 100 * float64(lost) / float64(recv+lost)
	}
	// RTP counts the packets of an outage as lost only when the next one
	// arrives; while nothing arrives, the silent share of the window is.
	if since, ok := s.quality.interruptedSince(); ok && now.After(base.at) {
		from := since
		if from.Before(base.at) {
			from = base.at
		}
		ls.LossPercent = max(ls.LossPercent, 100*float64(now.Sub(from))/float64(now.Sub(base.at)))
	}
	heard := ls.LossPercent
	if played := delta(int64(cur.played), int64(base.played)); played > 0 {
		heard = 100 * float64(delta(int64(cur.concealed), int64(base.concealed))) / float64(played)
	}
	ls.MOS = EstimateMOS(time.Duration(st.OneWayMS*float64(time.Millisecond)),
		time.Duration(st.JitterMS*float64(time.Millisecond)), heard)
	s.mu.Lock()
	receiver := s.receiver
	s.mu.Unlock()
	if receiver != nil {
		ls.JitterTargetMS = ms(receiver.Jitter.TargetDelay())
	}
	if s.cfg.Muted != nil {
		ls.Muted = s.cfg.Muted()
	}
	return ls, st
}

// startLive samples the call every LiveInterval until ctx ends: round trips
// for the robust path RTT and, if set, Config.OnStats. It runs under
// mediaWG so that it stops before the peer connection is released.
func (s *session) startLive(ctx context.Context) {
	s.mediaWG.Add(1)
	go func() {
		defer s.mediaWG.Done()
		t := time.NewTicker(LiveInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				ls, _ := s.sample(now)
				if s.cfg.OnStats != nil {
					s.cfg.OnStats(ls)
				}
			}
		}
	}()
}
