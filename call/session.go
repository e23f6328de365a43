package call

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/signalling"
)

// ending is how a session ended: the error returned to the user (nil for a
// completed call) and the reason sent to or received from the peer.
type ending struct {
	err    error
	reason string
	// notify says whether the peer still has to be told (hangup/reject).
	notify signalling.Type
}

// inbound is a message from the peer, or the error that ended the
// connection.
type inbound struct {
	msg signalling.Message
	err error
}

// session is one call from either side, from the moment the signalling
// connection exists until it is closed.
type session struct {
	cfg     *Config
	mode    ice.Mode
	role    signalling.Role
	callID  string
	conn    *signalling.Conn
	machine *signalling.Machine
	peer    lokinet.Address
	peerIP  netip.Addr
	start   time.Time
	log     *slog.Logger
	emit    Emitter

	ep       *ice.Endpoint
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticSample
	rtp      *webrtc.RTPTransceiver
	receiver *media.Receiver
	decoder  *media.Decoder

	mu sync.Mutex
	// candMu orders outgoing candidates; localReady and pendingLocal are
	// under it.
	candMu        sync.Mutex
	localReady    bool
	pendingLocal  []signalling.Message
	remoteReady   bool
	pendingRemote []webrtc.ICECandidateInit

	connected     chan struct{}
	connectedOnce *sync.Once
	// gen counts media paths: a fallback replaces the first.
	gen atomic.Int64
	// restarted tells the loop that the callee rebuilt its media path.
	restarted bool
	// remoteCount counts the peer's candidates in this negotiation.
	remoteCount int
	// deferredAnswer: a callee in an IP-exposing mode answers only on
	// accept, so that nothing reveals its addresses before then.
	deferredAnswer bool
	connectedAt    time.Time
	failed         chan error

	firstAudio atomic.Int64  // unix nanoseconds of the first received RTP packet
	remoteSSRC atomic.Uint32 // the peer's audio stream

	inbox    chan inbound
	readDone chan struct{}
	// readStarted says whether readLoop runs (and will close readDone).
	readStarted bool

	mediaStarted time.Time
	mediaCancel  context.CancelFunc
	mediaDone    chan error
	mediaWG      sync.WaitGroup
	sink         media.Sink
	sinkErr      error
	source       media.Source
	live         liveMeters
}

func newSession(cfg *Config, mode ice.Mode, role signalling.Role, callID string, conn *signalling.Conn,
	peer lokinet.Address, peerIP netip.Addr, start time.Time) (*session, error) {
	if mode == "" {
		mode = ice.ModeOnion
	}
	s := &session{
		cfg:           cfg,
		mode:          mode,
		role:          role,
		callID:        callID,
		conn:          conn,
		machine:       signalling.NewMachine(role, callID),
		peer:          peer,
		peerIP:        peerIP,
		start:         start,
		log:           cfg.logger().With("call", callID, "peer", peer.String()),
		emit:          cfg.Events,
		connected:     make(chan struct{}),
		connectedOnce: &sync.Once{},
		failed:        make(chan error, 4),
		inbox:         make(chan inbound, 16),
		readDone:      make(chan struct{}),
		mediaDone:     make(chan error, 1),
	}
	if err := s.setupPeerConnection(); err != nil {
		s.closeMedia()
		return nil, err
	}
	return s, nil
}

// setupPeerConnection builds the endpoint, the peer connection with one
// send-receive audio track, and the receive pipeline.
func (s *session) setupPeerConnection() error {
	// Audio first: a missing device or unwritable file should stop the call
	// before the peer's phone rings, not after it is answered.
	src, err := media.OpenSource(s.cfg.In, media.Options{Logger: s.log})
	if err != nil {
		return fmt.Errorf("open audio source %s: %w", s.cfg.In, err)
	}
	if s.cfg.WrapSource != nil {
		src = s.cfg.WrapSource(src)
	}
	s.source = src
	sink, err := media.OpenSink(s.cfg.Out, media.Options{Logger: s.log})
	if err != nil {
		return fmt.Errorf("open audio sink %s: %w", s.cfg.Out, err)
	}
	if s.cfg.WrapSink != nil {
		sink = s.cfg.WrapSink(sink)
	}
	s.sink = sink
	return s.setupMediaPath()
}

// setupMediaPath builds the endpoint and peer connection of the session's
// mode, with one send-receive audio track and the receive pipeline. A
// fallback calls it again after tearDownMediaPath.
func (s *session) setupMediaPath() error {
	gen := s.gen.Add(1)
	if s.mode.ExposesIP() {
		// Said before the endpoint exists: nothing has left through a
		// non-Lokinet interface yet.
		notice := ice.ExposureNotice(s.mode, s.cfg.Servers)
		s.emit.emit(Event{Kind: EventExposure, CallID: s.callID, Peer: s.peer.String(), Mode: string(s.mode),
			Message: notice})
		s.log.Warn("call uses a mode that exposes the IP address", "mode", s.mode, "exposure", notice)
	}
	ep, err := ice.NewEndpoint(ice.Config{
		Mode:    s.mode,
		Servers: s.cfg.Servers,
		Node:    s.cfg.Node,
		Net:     s.cfg.Net,
		Timers:  s.cfg.Timers,
		Logger:  s.log,
	})
	if err != nil {
		return fmt.Errorf("media endpoint: %w", err)
	}
	s.ep = ep
	pc, err := ep.NewPeerConnection()
	if err != nil {
		return err
	}
	s.pc = pc
	track, err := webrtc.NewTrackLocalStaticSample(ice.OpusCodec, "audio", "lokicall")
	if err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	s.track = track
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return fmt.Errorf("add audio transceiver: %w", err)
	}
	s.rtp = tr
	dec, err := media.NewDecoder()
	if err != nil {
		return fmt.Errorf("opus decoder: %w", err)
	}
	s.decoder = dec
	if err := s.buildReceiver(s.frameDuration()); err != nil {
		return err
	}

	// Callbacks of a peer connection replaced by a fallback are ignored.
	current := func() bool { return s.gen.Load() == gen }
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if current() {
			s.onLocalCandidate(ep, gen, c)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if current() {
			s.onConnectionState(st)
		}
	})
	pc.OnTrack(s.onTrack)
	return nil
}

func (s *session) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// onLocalCandidate checks and translates every gathered candidate. Anything
// but a host candidate on the Lokinet address fails the call closed.
func (s *session) onLocalCandidate(ep *ice.Endpoint, gen int64, c *webrtc.ICECandidate) {
	var msg signalling.Message
	if c == nil {
		msg = signalling.Message{Type: signalling.TypeEndOfCandidates}
	} else {
		nc, err := ep.ExportCandidate(*c)
		if err != nil {
			s.fail(fmt.Errorf("%w: %w", ErrPolicy, err))
			return
		}
		s.log.Debug("local candidate", "port", nc.Port, "priority", nc.Priority)
		msg = signalling.Message{Type: signalling.TypeCandidate, Candidate: &nc}
	}
	// Under candMu, so that candidates leave in the order gathered, after
	// the offer or answer and before end-of-candidates.
	s.candMu.Lock()
	defer s.candMu.Unlock()
	if s.gen.Load() != gen {
		return // from a media path a fallback replaced
	}
	if !s.localReady {
		s.pendingLocal = append(s.pendingLocal, msg)
		return
	}
	if err := s.send(msg); err != nil {
		s.fail(err)
	}
}

// localDescriptionSent lets candidates flow after the offer or answer.
func (s *session) localDescriptionSent() error {
	s.candMu.Lock()
	defer s.candMu.Unlock()
	s.localReady = true
	pending := s.pendingLocal
	s.pendingLocal = nil
	for _, msg := range pending {
		if err := s.send(msg); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) onConnectionState(st webrtc.PeerConnectionState) {
	s.log.Debug("peer connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.mu.Lock()
		once, ch := s.connectedOnce, s.connected
		s.mu.Unlock()
		once.Do(func() {
			s.mu.Lock()
			s.connectedAt = time.Now()
			s.mu.Unlock()
			close(ch)
		})
	case webrtc.PeerConnectionStateFailed:
		s.fail(fmt.Errorf("%w: ICE or DTLS failed", ErrMediaFailed))
	case webrtc.PeerConnectionStateDisconnected:
		s.log.Warn("media path disconnected; waiting for it to recover")
	}
}

// frameDuration is this side's audio frame duration.
func (s *session) frameDuration() time.Duration {
	if d := s.cfg.Encoder.FrameDuration; d > 0 {
		return d
	}
	return media.FrameDuration
}

// ptime is this side's frame duration as sent in offers and answers.
func (s *session) ptime() int { return int(s.frameDuration() / time.Millisecond) }

// buildReceiver makes the playout pipeline for packets of the given frame
// duration: the peer's, which may differ from this side's.
func (s *session) buildReceiver(frame time.Duration) error {
	jb, err := media.NewJitterBuffer(media.JitterConfig{
		FrameDuration: frame, TargetDelay: s.cfg.JitterDelay, Logger: s.log})
	if err != nil {
		return fmt.Errorf("jitter buffer: %w", err)
	}
	r := &media.Receiver{
		Sink:    s.sink,
		Jitter:  jb,
		Decoder: s.decoder,
		Logger:  s.log,
		Level:   &s.live.speaker,
	}
	s.mu.Lock()
	s.receiver = r
	s.mu.Unlock()
	return nil
}

// peerPtime adapts playout to the frame duration the peer announced.
func (s *session) peerPtime(ptime int) error {
	if ptime == 0 {
		return nil
	}
	frame := time.Duration(ptime) * time.Millisecond
	if frame == s.receiver.Jitter.FrameDuration() {
		return nil
	}
	s.log.Debug("peer uses another frame duration", "peer", frame, "own", s.frameDuration())
	return s.buildReceiver(frame)
}

func (s *session) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	s.log.Debug("remote track", "codec", track.Codec().MimeType, "ssrc", track.SSRC())
	s.remoteSSRC.Store(uint32(track.SSRC()))
	go drainRTCP(recv.Read)
	s.mu.Lock()
	receiver := s.receiver
	s.mu.Unlock()
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		s.firstAudio.CompareAndSwap(0, now.UnixNano())
		receiver.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, now)
	}
}

// drainRTCP reads RTCP so that the interceptors see it (RTT needs both
// sides reading).
func drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
	}
}

func (s *session) send(m signalling.Message) error {
	m.Version = signalling.Version
	m.CallID = s.callID
	if err := s.machine.Sent(m.Type); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.conn.Send(ctx, m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// readLoop forwards the peer's messages to the session loop until the
// connection ends.
func (s *session) readLoop(ctx context.Context) {
	defer close(s.readDone)
	for {
		m, err := s.conn.Receive(ctx)
		// Messages and the final error share one channel so that a last
		// message (reject, hangup) is always seen before the end of the
		// connection.
		select {
		case s.inbox <- inbound{msg: m, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// applyRemoteDescription checks and applies the peer's SDP and releases
// candidates that arrived before it.
func (s *session) applyRemoteDescription(typ webrtc.SDPType, raw string) error {
	if err := ice.CheckRemoteSDP(raw); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: raw}); err != nil {
		return fmt.Errorf("%w: apply remote %s: %w", ErrProtocol, typ, err)
	}
	s.mu.Lock()
	s.remoteReady = true
	pending := s.pendingRemote
	s.pendingRemote = nil
	s.mu.Unlock()
	for _, c := range pending {
		if err := s.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: add remote candidate: %w", ErrProtocol, err)
		}
	}
	return nil
}

// remoteCandidate resolves a peer candidate to this node's view of the peer:
// the IP the signalling connection already runs over, so no second Lokinet
// session or DNS query is needed.
// maxRemoteCandidates bounds the candidates a peer may send per negotiation:
// each one costs connectivity checks.
const maxRemoteCandidates = 32

func (s *session) remoteCandidate(ctx context.Context, c signalling.Candidate) error {
	if s.remoteCount++; s.remoteCount > maxRemoteCandidates {
		return fmt.Errorf("%w: more than %d candidates", ErrProtocol, maxRemoteCandidates)
	}
	init, err := s.ep.ImportCandidate(ctx, c, s.peer, func(context.Context, lokinet.Address) (netip.Addr, error) {
		return s.peerIP, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	s.mu.Lock()
	if !s.remoteReady {
		s.pendingRemote = append(s.pendingRemote, init)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("%w: add remote candidate: %w", ErrProtocol, err)
	}
	return nil
}

// localDescription creates the offer or answer, applies it and checks that
// it reveals nothing before it may leave the process.
func (s *session) localDescription(typ webrtc.SDPType) (string, error) {
	var (
		desc webrtc.SessionDescription
		err  error
	)
	if typ == webrtc.SDPTypeOffer {
		desc, err = s.pc.CreateOffer(nil)
	} else {
		desc, err = s.pc.CreateAnswer(nil)
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", typ, err)
	}
	if err := ice.CheckLocalSDP(desc.SDP); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := s.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("apply local %s: %w", typ, err)
	}
	return desc.SDP, nil
}

// startMedia opens the audio source and sink and starts sending and playing.
// It runs once the call is accepted and the peer connection is connected.
func (s *session) startMedia(ctx context.Context) error {
	src := s.source
	enc, err := media.NewEncoder(s.cfg.Encoder)
	if err != nil {
		return fmt.Errorf("opus encoder: %w", err)
	}
	go drainRTCP(s.rtp.Sender().Read)

	mctx, cancel := context.WithCancel(ctx)
	s.mediaCancel = cancel
	s.mediaStarted = time.Now()
	sender := &media.Sender{
		Source:  src,
		Encoder: enc,
		Muted:   s.cfg.Muted,
		Level:   &s.live.mic,
		Write: func(payload []byte, d time.Duration) error {
			return s.track.WriteSample(pionmedia.Sample{Data: payload, Duration: d})
		},
		Logger: s.log,
	}
	s.mediaWG.Add(2)
	go func() {
		defer s.mediaWG.Done()
		err := sender.Run(mctx)
		if mctx.Err() != nil {
			return
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = io.EOF
		}
		select {
		case s.mediaDone <- err:
		default:
		}
	}()
	go func() {
		defer s.mediaWG.Done()
		if err := s.receiver.Run(mctx); err != nil && mctx.Err() == nil {
			select {
			case s.mediaDone <- fmt.Errorf("playout: %w", err):
			default:
			}
		}
	}()
	s.startLive(mctx)
	return nil
}

// closeMedia stops the pipelines and releases every resource of the call.
func (s *session) closeMedia() error {
	if s.mediaCancel != nil {
		s.mediaCancel()
	}
	// The media goroutines read the peer connection (samples, statistics):
	// they stop before it closes.
	s.mediaWG.Wait()
	var errs []error
	if s.pc != nil {
		errs = append(errs, s.pc.Close())
	}
	if s.ep != nil {
		errs = append(errs, s.ep.Close())
	}
	if s.source != nil {
		errs = append(errs, s.source.Close())
	}
	if s.sink != nil {
		if err := s.sink.Close(); err != nil {
			s.sinkErr = fmt.Errorf("%w: save received audio to %s: %w", ErrAudio, s.cfg.Out, err)
			errs = append(errs, s.sinkErr)
		}
	}
	return errors.Join(errs...)
}

// tearDownMediaPath closes the peer connection and endpoint of a media path
// that never carried audio, keeping the audio source and sink, and resets the
// negotiation state for a new path.
func (s *session) tearDownMediaPath() {
	s.candMu.Lock()
	s.gen.Add(1) // silence the old callbacks first
	s.localReady, s.pendingLocal = false, nil
	s.candMu.Unlock()
	if s.pc != nil {
		_ = s.pc.Close()
	}
	if s.ep != nil {
		_ = s.ep.Close()
	}
	s.pc, s.ep, s.rtp, s.track = nil, nil, nil, nil
	s.mu.Lock()
	s.remoteReady, s.pendingRemote = false, nil
	s.remoteCount = 0
	s.connected = make(chan struct{})
	s.connectedOnce = &sync.Once{}
	s.connectedAt = time.Time{}
	s.mu.Unlock()
	s.firstAudio.Store(0)
	s.remoteSSRC.Store(0)
}
