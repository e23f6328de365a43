package call

import (
	"math"
	"time"
)

// Stats are a call's figures at its end. Durations are in milliseconds; RTT
// is a round trip, OneWayMS an estimate of one-way network delay (RTT / 2).
type Stats struct {
	Mode   string `json:"mode"`
	CallID string `json:"call_id"`
	Peer   string `json:"peer"`

	// SetupMS runs from dial (caller) or offer received (callee) to the
	// first packet of the peer's audio; SetupRTTs expresses it in path round
	// trips: SetupMS / PathRTTMS.
	SetupMS   float64 `json:"setup_ms"`
	SetupRTTs float64 `json:"setup_rtts,omitempty"`
	// PathRTTMS is the call's robust path round trip: the median of the
	// round trips sampled about once a second while audio flowed (RTCP,
	// else ICE consent checks), or the end-of-call round trip for a call too
	// short to have a sample. A single sample can be a spike (one sampled at
	// the end of a call ranged from 0.08 to 26 setup RTTs on real calls);
	// the median of the call is not.
	PathRTTMS float64 `json:"path_rtt_ms,omitempty"`
	// ConnectMS runs from the same start to ICE and DTLS connected.
	ConnectMS float64 `json:"connect_ms"`
	// MediaMS is how long audio flowed.
	MediaMS float64 `json:"media_ms"`
	// Interruptions counts the times audio from the peer stopped for longer
	// than Config.InterruptAfter; InterruptedMS is their total length (an
	// interruption still going on at the end counts up to the end).
	Interruptions int     `json:"interruptions"`
	InterruptedMS float64 `json:"interrupted_ms"`
	// Recoveries counts the restarts (new media paths offered with
	// ice-restart) the call made or answered.
	Recoveries int `json:"recoveries,omitempty"`

	RTTMS    float64 `json:"rtt_ms"`     // from RTCP receiver reports
	ICERTTMS float64 `json:"ice_rtt_ms"` // from ICE consent checks
	OneWayMS float64 `json:"one_way_ms"`
	JitterMS float64 `json:"jitter_ms"`

	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	PacketsLost     int64   `json:"packets_lost"`
	LossPercent     float64 `json:"loss_percent"`

	FramesPlayed    uint64  `json:"frames_played"`
	FramesConcealed uint64  `json:"frames_concealed"`
	FramesRecovered uint64  `json:"frames_recovered"`
	JitterBufferMS  float64 `json:"jitter_buffer_ms"`

	LocalCandidate  string `json:"local_candidate,omitempty"`
	RemoteCandidate string `json:"remote_candidate,omitempty"`

	// MOS is the E-model estimate (ITU-T G.107 simplified, see EstimateMOS)
	// from OneWayMS, JitterMS and the loss heard after FEC: concealed
	// frames as a share of frames played (LossPercent before any playout).
	MOS float64 `json:"mos"`
}

// EstimateMOS returns the simplified E-model estimate of listening quality
// for a one-way network delay, jitter and packet loss in percent:
// effective latency EL = oneWay + 2×jitter + 10 ms; R = 93.2 − EL/40 below
// 160 ms, else 93.2 − (EL − 120)/10; R drops 2.5 per percent of loss;
// MOS = 1 + 0.035R + 7e-6·R(R − 60)(100 − R), clamped to [1, 4.5].
func EstimateMOS(oneWay, jitter time.Duration, lossPercent float64) float64 {
	el := ms(oneWay) + 2*ms(jitter) + 10
	var r float64
	if el < 160 {
		r = 93.2 - el/40
	} else {
		r = 93.2 - (el-120)/10
	}
	r -= 2.5 * lossPercent
	if r <= 0 {
		return 1
	}
	if r >= 100 {
		return 4.5
	}
	mos := 1 + 0.035*r + 7e-6*r*(r-60)*(100-r)
	return math.Max(1, math.Min(4.5, mos))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
