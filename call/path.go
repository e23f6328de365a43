package call

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/signalling"
)

// mediaPath is one media connection of a call: the endpoint (socket and pion
// API), the peer connection with its audio track and transceiver, the queues
// of candidates waiting for a description, and the connected signal. It is
// built whole (newMediaPath), replaced whole (a fallback to another mode, or
// a rebuild after the endpoint died) and torn down whole (close). The audio
// source, sink and jitter buffer belong to the session and survive it.
type mediaPath struct {
	// gen numbers the session's media paths from 1; callbacks of a path
	// that is no longer the session's current one are ignored.
	gen  int64
	mode ice.Mode

	ep    *ice.Endpoint
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample
	rtp   *webrtc.RTPTransceiver

	// candMu orders outgoing candidates; localReady and pendingLocal are
	// under it.
	candMu       sync.Mutex
	localReady   bool
	pendingLocal []signalling.Message
	// eocQueued: end-of-candidates is queued or sent (pion may report the
	// end of gathering more than once).
	eocQueued bool

	mu            sync.Mutex
	remoteReady   bool
	pendingRemote []webrtc.ICECandidateInit
	// remoteCount counts the peer's candidates in this negotiation.
	remoteCount int
	connectedAt time.Time

	// connected is closed once the peer connection first reports
	// connected (ICE and DTLS up).
	connected     chan struct{}
	connectedOnce sync.Once
	// iceUp is closed once ICE first reports connected: DTLS should follow
	// within a few round trips.
	iceUp     chan struct{}
	iceUpOnce sync.Once

	remoteSSRC atomic.Uint32 // the peer's audio stream on this path
}

// newMediaPath builds the endpoint and peer connection of mode with one
// send-receive audio track. The path is not yet the session's: callbacks
// check that it is before acting.
func (s *session) newMediaPath(mode ice.Mode) (*mediaPath, error) {
	p := &mediaPath{gen: s.gen.Add(1), mode: mode, connected: make(chan struct{}), iceUp: make(chan struct{})}
	if mode.ExposesIP() {
		// Said before the endpoint exists: nothing has left through a
		// non-Lokinet interface yet.
		notice := ice.ExposureNotice(mode, s.cfg.Servers)
		s.emit.emit(Event{Kind: EventExposure, CallID: s.callID, Peer: s.peer.String(), Mode: string(mode),
			Message: notice})
		s.log.Warn("call uses a mode that exposes the IP address", "mode", mode, "exposure", notice)
	}
	timers := s.cfg.Timers
	if timers.Failed == 0 {
		// ICE must not give a path up before the call does: a path that
		// comes back within the media timeout resumes at once, without a
		// restart whose offer has to cross the same broken path.
		timers.Failed = s.cfg.mediaTimeout()
	}
	ep, err := ice.NewEndpoint(ice.Config{
		Mode:    mode,
		Servers: s.cfg.Servers,
		Node:    s.localNode(),
		Net:     s.mediaNet,
		Timers:  timers,
		Logger:  s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("media endpoint: %w", err)
	}
	p.ep = ep
	pc, err := ep.NewPeerConnection()
	if err != nil {
		p.close()
		return nil, err
	}
	p.pc = pc
	track, err := webrtc.NewTrackLocalStaticSample(ice.OpusCodec, "audio", "lokicall")
	if err != nil {
		p.close()
		return nil, fmt.Errorf("audio track: %w", err)
	}
	p.track = track
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("add audio transceiver: %w", err)
	}
	p.rtp = tr
	// RTCP is read so that the interceptors see it (RTT needs both sides
	// reading); Read blocks until the sender starts and fails on close.
	go drainRTCP(tr.Sender().Read)

	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if s.isLive(p) {
			s.onLocalCandidate(p, c)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if s.isLive(p) {
			s.onConnectionState(p, st)
		}
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st == webrtc.ICEConnectionStateConnected {
			p.iceUpOnce.Do(func() { close(p.iceUp) })
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { s.onTrack(p, track, recv) })
	return p, nil
}

// markConnected closes the connected signal once.
func (p *mediaPath) markConnected() {
	p.connectedOnce.Do(func() {
		p.mu.Lock()
		p.connectedAt = time.Now()
		p.mu.Unlock()
		close(p.connected)
	})
}

// connectedTime is when the path first connected; zero before.
func (p *mediaPath) connectedTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connectedAt
}

// close releases the peer connection and the endpoint. It is safe on a
// partly built path.
func (p *mediaPath) close() error {
	var errs []error
	if p.pc != nil {
		errs = append(errs, p.pc.Close())
	}
	if p.ep != nil {
		errs = append(errs, p.ep.Close())
	}
	return errors.Join(errs...)
}
