package call

import (
	"context"
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
	Muted      bool    `json:"muted"`

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

	// MOS is the E-model estimate as in Stats.
	MOS float64 `json:"mos"`
	// MicLevelDB is the peak level captured since the previous snapshot
	// (before mute); SpeakerLevelDB the peak level played.
	MicLevelDB     float64 `json:"mic_level_db"`
	SpeakerLevelDB float64 `json:"speaker_level_db"`
}

// liveMeters are the level meters on a call's capture and playout.
type liveMeters struct {
	mic, speaker media.Meter
}

// Live returns the live snapshot of the session now. It may run while media
// flows, before the peer connection closes.
func (s *session) Live() LiveStats {
	st := s.collectStats()
	ls := LiveStats{
		CallID:          st.CallID,
		Peer:            st.Peer,
		State:           StateActive,
		DurationMS:      st.MediaMS,
		RTTMS:           st.RTTMS,
		OneWayMS:        st.OneWayMS,
		JitterMS:        st.JitterMS,
		LossPercent:     st.LossPercent,
		JitterBufferMS:  st.JitterBufferMS,
		FramesPlayed:    st.FramesPlayed,
		FramesConcealed: st.FramesConcealed,
		FramesRecovered: st.FramesRecovered,
		MOS:             st.MOS,
		MicLevelDB:      s.live.mic.Peak(),
		SpeakerLevelDB:  s.live.speaker.Peak(),
	}
	if ls.RTTMS == 0 {
		ls.RTTMS = st.ICERTTMS
	}
	if s.receiver != nil {
		ls.JitterTargetMS = ms(s.receiver.Jitter.TargetDelay())
	}
	if s.cfg.Muted != nil {
		ls.Muted = s.cfg.Muted()
	}
	return ls
}

// startLive calls Config.OnStats every LiveInterval until ctx ends. It runs
// under mediaWG so that it stops before the peer connection is released.
func (s *session) startLive(ctx context.Context) {
	if s.cfg.OnStats == nil {
		return
	}
	s.mediaWG.Add(1)
	go func() {
		defer s.mediaWG.Done()
		t := time.NewTicker(LiveInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.cfg.OnStats(s.Live())
			}
		}
	}()
}
