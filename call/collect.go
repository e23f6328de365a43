package call

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// collectStats gathers the call's figures from pion's statistics and the
// receive pipeline. It must run before the peer connection closes.
func (s *session) collectStats() *Stats {
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	st := &Stats{
		Mode:   string(mode),
		CallID: s.callID,
		Peer:   s.peer.String(),
	}
	if first := s.firstAudio.Load(); first != 0 {
		st.SetupMS = ms(time.Unix(0, first).Sub(s.start))
	}
	p := s.currentPath()
	if p != nil {
		if at := p.connectedTime(); !at.IsZero() {
			st.ConnectMS = ms(at.Sub(s.start))
		}
	}
	if !s.mediaStarted.IsZero() {
		st.MediaMS = ms(time.Since(s.mediaStarted))
	}
	if p != nil {
		s.addPionStats(st, p.pc.GetStats())
		addStreamStats(st, p)
	}
	s.mu.Lock()
	receiver := s.receiver
	s.mu.Unlock()
	if receiver != nil {
		rs := receiver.Stats()
		st.FramesPlayed = rs.Played
		st.FramesConcealed = rs.Concealed
		st.FramesRecovered = rs.Recovered
		st.JitterBufferMS = ms(rs.JitterBufferDelay)
		if st.JitterMS == 0 {
			st.JitterMS = ms(rs.Jitter)
		}
	}
	rtt := st.RTTMS
	if rtt == 0 {
		rtt = st.ICERTTMS
	}
	st.OneWayMS = rtt / 2
	st.PathRTTMS = s.quality.medianRTT()
	if st.PathRTTMS == 0 {
		st.PathRTTMS = rtt // no sample yet: a call shorter than a second
	}
	if st.PathRTTMS > 0 && st.SetupMS > 0 {
		st.SetupRTTs = st.SetupMS / st.PathRTTMS
	}
	n, d, rec := s.quality.totals(time.Now())
	st.Interruptions, st.InterruptedMS, st.Recoveries = n, ms(d), rec
	if expected := int64(st.PacketsReceived) + st.PacketsLost; expected > 0 && st.PacketsLost > 0 {
		st.LossPercent = 100 * float64(st.PacketsLost) / float64(expected)
	}
	st.MOS = EstimateMOS(time.Duration(st.OneWayMS*float64(time.Millisecond)),
		time.Duration(st.JitterMS*float64(time.Millisecond)), residualLossPercent(st))
	return st
}

func (s *session) addPionStats(st *Stats, report webrtc.StatsReport) {
	candidates := map[string]webrtc.ICECandidateStats{}
	var pair *webrtc.ICECandidatePairStats
	for _, v := range report {
		switch v := v.(type) {
		case webrtc.ICECandidateStats:
			candidates[v.ID] = v
		case webrtc.ICECandidatePairStats:
			if v.Nominated || (pair == nil && v.State == webrtc.StatsICECandidatePairStateSucceeded) {
				p := v
				pair = &p
			}
		}
	}
	if pair != nil {
		st.ICERTTMS = pair.CurrentRoundTripTime * 1000
		if c, ok := candidates[pair.LocalCandidateID]; ok {
			st.LocalCandidate = c.CandidateType.String()
		}
		if c, ok := candidates[pair.RemoteCandidateID]; ok {
			st.RemoteCandidate = c.CandidateType.String()
		}
	}
}

// addStreamStats adds the RTP figures of the two audio streams of p.
func addStreamStats(st *Stats, p *mediaPath) {
	if enc := p.rtp.Sender().GetParameters().Encodings; len(enc) > 0 {
		if out, ok := p.ep.StreamStats(uint32(enc[0].SSRC)); ok {
			st.PacketsSent = out.OutboundRTPStreamStats.PacketsSent
			if out.RemoteInboundRTPStreamStats.RoundTripTimeMeasurements > 0 {
				st.RTTMS = ms(out.RemoteInboundRTPStreamStats.RoundTripTime)
			}
		}
	}
	if ssrc := p.remoteSSRC.Load(); ssrc != 0 {
		if in, ok := p.ep.StreamStats(ssrc); ok {
			st.PacketsReceived = in.InboundRTPStreamStats.PacketsReceived
			st.PacketsLost = in.InboundRTPStreamStats.PacketsLost
			st.JitterMS = in.InboundRTPStreamStats.Jitter * 1000
		}
	}
}
