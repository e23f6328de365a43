package call

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
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
	// fromPeer: the peer's message (hangup, reject, busy) ended the call.
	fromPeer bool
}

// inbound is a message from the peer, or the error that ended the
// connection, and the connection it came on.
type inbound struct {
	msg  signalling.Message
	err  error
	conn *signalling.Conn
}

// session is one call from either side, from the moment the signalling
// connection exists until it is closed.
type session struct {
	cfg *Config
	// mode is the current media path's mode: written by the loop under mu,
	// read by the loop freely and by others under mu.
	mode   ice.Mode
	role   signalling.Role
	callID string
	// conn is the signalling connection (under mu): replaced when the
	// call resumes on a new one.
	conn    *signalling.Conn
	machine *signalling.Machine
	peer    lokinet.Address
	start   time.Time
	log     *slog.Logger
	emit    Emitter

	mu sync.Mutex
	// path is the current media path (under mu); see mediaPath. pending is
	// its replacement while that is negotiated and connects (under mu): the
	// current path carries the audio until then, so that a path that comes
	// back by itself is not thrown away for one still being built.
	path    *mediaPath
	pending *mediaPath
	// draining is the path a promotion replaced: kept open for drainFor
	// so that the audio the peer still sends on it is played (under mu).
	draining *mediaPath
	// peerIP is this node's view of the peer's Lokinet IP (under mu): the
	// signalling connection's, or the one a later lookup found.
	peerIP netip.Addr
	// node is this node as Lokinet shows it (under mu): Config.Node, or
	// what a lookup found after the daemon restarted.
	node     lokinet.Node
	receiver *media.Receiver // under mu
	playout  playoutStream   // under mu
	decoder  *media.Decoder

	// gen numbers media paths.
	gen atomic.Int64
	// deferredAnswer: a callee in an IP-exposing mode answers only on
	// accept, so that nothing reveals its addresses before then.
	deferredAnswer bool
	failed         chan error

	firstAudio atomic.Int64 // unix nanoseconds of the first received RTP packet
	lastRTP    atomic.Int64 // unix nanoseconds of the latest received RTP packet
	// resumed tells the loop that the peer's audio came back after a
	// silence.
	resumed chan resumption
	quality quality
	// inbound sees every packet on the media sockets; mediaNet is the
	// network stack that reports to it.
	inbound  inboundWatch
	mediaNet transport.Net
	// resolvedC and pathDownC carry recovery events to the loop.
	resolvedC chan resolved
	pathDownC chan struct{}
	// rediscovered carries the node found again after a daemon restart.
	rediscovered chan rediscovery

	inbox chan inbound
	// readDone is closed when the session finishes: it reads no more.
	readDone  chan struct{}
	closeDone sync.Once
	// readCtx is the context of the read loops; readerDone is closed when
	// the current connection's read loop has returned (loop only).
	readCtx    context.Context
	readerDone chan struct{}
	// readStarted says whether a read loop runs (and will close
	// readerDone).
	readStarted bool
	// sigDown: the signalling connection broke and the call waits for a
	// new one; sends fail at once with errSignallingDown.
	sigDown atomic.Bool
	// resumeC carries the resumes the callee's server hands to the call;
	// redialC the caller's new connections.
	resumeC chan resumeRequest
	redialC chan redialResult
	// redialTo is the callee's signalling port, dialled again to resume
	// (caller only).
	redialTo netip.AddrPort
	// endReason is the reason the call ended with, once it has.
	endReason string

	// loop is the session loop's state; only the loop goroutine touches it.
	loop callState

	mediaStarted time.Time
	mediaCancel  context.CancelFunc
	mediaDone    chan error
	mediaWG      sync.WaitGroup
	sink         media.Sink
	sinkErr      error
	// toneOut is the output device that plays call-progress tones (the
	// sink before WrapSink, so that measurement taps see only the call's
	// audio); nil when there are none. tone is the tone playing.
	toneOut media.Sink
	tone    *tonePlayback
	source  media.Source
	live    liveMeters
}

func newSession(cfg *Config, mode ice.Mode, role signalling.Role, callID string, conn *signalling.Conn,
	peer lokinet.Address, peerIP netip.Addr, start time.Time) (*session, error) {
	if mode == "" {
		mode = ice.ModeOnion
	}
	s := &session{
		cfg:       cfg,
		mode:      mode,
		role:      role,
		callID:    callID,
		conn:      conn,
		machine:   signalling.NewMachine(role, callID),
		peer:      peer,
		peerIP:    peerIP,
		node:      cfg.Node,
		start:     start,
		log:       cfg.logger().With("call", callID, "peer", peer.String()),
		emit:      cfg.Events,
		failed:    make(chan error, 4),
		inbox:     make(chan inbound, 16),
		readDone:  make(chan struct{}),
		mediaDone: make(chan error, 1),
		resumed:   make(chan resumption, 4),
		resolvedC: make(chan resolved, 1),
		pathDownC: make(chan struct{}, 1),
		resumeC:   make(chan resumeRequest),
		redialC:   make(chan redialResult),

		rediscovered: make(chan rediscovery, 1),
	}
	nw := cfg.Net
	if nw == nil {
		var err error
		if nw, err = stdnet.NewNet(); err != nil {
			return nil, fmt.Errorf("host network: %w", err)
		}
	}
	s.mediaNet = watchedNet{Net: nw, w: &s.inbound}
	if err := s.setupPeerConnection(); err != nil {
		s.closeMedia()
		return nil, err
	}
	return s, nil
}

// setupPeerConnection opens the audio source and sink, the decoder and the
// receive pipeline, and builds the first media path.
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
	if s.cfg.Tones != nil && s.cfg.Out.Kind == media.KindDevice {
		s.toneOut = sink
	}
	if s.cfg.WrapSink != nil {
		sink = s.cfg.WrapSink(sink)
	}
	s.sink = sink
	dec, err := media.NewDecoder()
	if err != nil {
		return fmt.Errorf("opus decoder: %w", err)
	}
	s.decoder = dec
	if err := s.buildReceiver(s.frameDuration()); err != nil {
		return err
	}
	p, err := s.newMediaPath(s.mode)
	if err != nil {
		return err
	}
	s.setPath(p)
	return nil
}

// currentPath returns the session's media path; nil between a teardown and
// its replacement.
func (s *session) currentPath() *mediaPath {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

// isCurrent reports whether p is the session's media path.
func (s *session) isCurrent(p *mediaPath) bool { return s.currentPath() == p }

// negotiating returns the media path whose offer, answer and candidates
// are being exchanged: the pending replacement if there is one, else the
// current path.
func (s *session) negotiating() *mediaPath {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		return s.pending
	}
	return s.path
}

// isLive reports whether p is the current or the pending media path: its
// callbacks count.
func (s *session) isLive(p *mediaPath) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return p != nil && (p == s.path || p == s.pending)
}

// startPending builds a replacement for the current media path in the
// session's mode and makes it pending, closing an earlier pending one.
func (s *session) startPending() (*mediaPath, error) {
	p, err := s.newMediaPath(s.mode)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.pending
	s.pending = p
	s.mu.Unlock()
	if old != nil {
		_ = old.close()
	}
	return p, nil
}

// promote makes the pending path p current once it connected, and closes
// the path it replaces. It reports whether p was pending.
func (s *session) promote(p *mediaPath) bool {
	s.mu.Lock()
	if p == nil || s.pending != p {
		s.mu.Unlock()
		return false
	}
	old, older := s.path, s.draining
	s.path, s.pending, s.draining = p, nil, old
	s.mu.Unlock()
	if older != nil {
		_ = older.close()
	}
	if old != nil {
		// The peer may switch a moment later (the DTLS server connects
		// half a round trip before the client): play what it still sends
		// on the old path for a while.
		time.AfterFunc(drainFor, func() {
			s.mu.Lock()
			mine := s.draining == old
			if mine {
				s.draining = nil
			}
			s.mu.Unlock()
			if mine {
				_ = old.close()
			}
		})
	}
	return true
}

// drainFor is how long a replaced media path stays open to receive.
const drainFor = 3 * time.Second

// setPath makes p the session's media path and returns the one it replaces.
func (s *session) setPath(p *mediaPath) *mediaPath {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.path
	s.path = p
	return old
}

// replacePath tears the current media path down whole and builds a new one
// of mode in its place. The audio source, sink and jitter buffer stay.
func (s *session) replacePath(mode ice.Mode) (*mediaPath, error) {
	if old := s.setPath(nil); old != nil {
		_ = old.close()
	}
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	if pending != nil {
		_ = pending.close()
	}
	p, err := s.newMediaPath(mode)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.mode = mode // written under mu for collectStats; the loop reads it freely
	s.mu.Unlock()
	s.setPath(p)
	return p, nil
}

// remoteIP is this node's view of the peer's Lokinet IP.
func (s *session) remoteIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerIP
}

func (s *session) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// onLocalCandidate checks and translates every gathered candidate. Anything
// but a host candidate on the Lokinet address fails the call closed.
func (s *session) onLocalCandidate(p *mediaPath, c *webrtc.ICECandidate) {
	var msg signalling.Message
	if c == nil {
		msg = signalling.Message{Type: signalling.TypeEndOfCandidates}
	} else {
		nc, err := p.ep.ExportCandidate(*c)
		if err != nil {
			s.fail(fmt.Errorf("%w: %w", ErrPolicy, err))
			return
		}
		s.log.Debug("local candidate", "port", nc.Port, "priority", nc.Priority)
		msg = signalling.Message{Type: signalling.TypeCandidate, Candidate: &nc}
	}
	// Under candMu, so that candidates leave in the order gathered, after
	// the offer or answer and before end-of-candidates.
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if s.negotiating() != p {
		return // from a media path that was replaced
	}
	if p.eocQueued {
		// pion may report gathering more than once: the same host
		// candidate again, after end-of-candidates.
		s.log.Debug("dropping a candidate gathered after end-of-candidates")
		return
	}
	if msg.Type == signalling.TypeEndOfCandidates {
		p.eocQueued = true
	}
	if !p.localReady {
		p.pendingLocal = append(p.pendingLocal, msg)
		return
	}
	if err := s.send(msg); err != nil && !s.machine.Established() {
		// An established call's broken connection is the read loop's to
		// report; the call waits for a new one.
		s.fail(err)
	}
}

// localDescriptionSent lets candidates flow after the offer or answer.
func (s *session) localDescriptionSent() error {
	p := s.negotiating()
	p.candMu.Lock()
	defer p.candMu.Unlock()
	p.localReady = true
	pending := p.pendingLocal
	p.pendingLocal = nil
	for _, msg := range pending {
		if err := s.send(msg); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) onConnectionState(p *mediaPath, st webrtc.PeerConnectionState) {
	s.log.Debug("peer connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		p.markConnected()
	case webrtc.PeerConnectionStateFailed:
		s.fail(fmt.Errorf("%w: ICE or DTLS failed", ErrMediaFailed))
	case webrtc.PeerConnectionStateDisconnected:
		s.log.Warn("media path disconnected")
		select {
		case s.pathDownC <- struct{}{}:
		default:
		}
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

func (s *session) onTrack(p *mediaPath, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	s.log.Debug("remote track", "codec", track.Codec().MimeType, "ssrc", track.SSRC())
	p.remoteSSRC.Store(uint32(track.SSRC()))
	go drainRTCP(recv.Read)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if !s.receiving(p) {
			continue
		}
		now := time.Now()
		s.firstAudio.CompareAndSwap(0, now.UnixNano())
		s.noteRTP(now)
		s.mu.Lock()
		receiver := s.receiver
		seq, ts := s.playout.continueStream(p.gen, pkt.SequenceNumber, pkt.Timestamp, now, receiver.Jitter.FrameDuration())
		s.mu.Unlock()
		receiver.Push(seq, ts, pkt.Payload, now)
	}
}

// receiving reports whether audio arriving on p is played: the current
// path's and a draining one's. The caller switches to a restart's new path
// when the first audio arrives on it, the proof that the callee, which
// switches once its side connected, receives there too.
func (s *session) receiving(p *mediaPath) bool {
	s.mu.Lock()
	ok := p == s.path || p == s.draining
	caller := s.role == signalling.Caller && p == s.pending
	s.mu.Unlock()
	if caller && s.promote(p) {
		s.log.Info("the callee switched to the new media path; so does the caller")
		return true
	}
	return ok
}

// playoutStream keeps the sequence numbers and timestamps the jitter buffer
// sees continuous across media paths: a rebuilt path's peer track starts
// with a new SSRC, sequence number and timestamp, and the jitter buffer,
// which outlives the path, must see it continue the old stream, with the
// frames of the gap missing as after any outage.
type playoutStream struct {
	// offsets maps each path's packets onto the stream.
	offsets map[int64]streamOffset
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	started bool
}

// streamOffset is what is added to one path's sequence numbers and
// timestamps.
type streamOffset struct {
	seq uint16
	ts  uint32
}

// continueStream maps a packet of path gen to the playout stream. The
// first path's packets pass unchanged; a later path's first packet is
// placed after the last one pushed by the frames the time between them
// would have carried; a draining path's late packets keep their own offset.
func (ps *playoutStream) continueStream(gen int64, seq uint16, ts uint32, now time.Time, frame time.Duration) (uint16, uint32) {
	if ps.offsets == nil {
		ps.offsets = map[int64]streamOffset{}
	}
	off, ok := ps.offsets[gen]
	if !ok {
		if ps.started {
			frames := max(1, int64(now.Sub(ps.lastAt)/frame))
			off = streamOffset{
				seq: ps.lastSeq + uint16(frames) - seq,
				ts:  ps.lastTS + uint32(frames*int64(media.SampleRate)*int64(frame)/int64(time.Second)) - ts,
			}
		}
		ps.offsets[gen] = off
	}
	mseq, mts := seq+off.seq, ts+off.ts
	if !ps.started || int16(mseq-ps.lastSeq) > 0 {
		ps.lastSeq, ps.lastTS, ps.lastAt = mseq, mts, now
	}
	ps.started = true
	return mseq, mts
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
	if s.sigDown.Load() {
		return fmt.Errorf("send %s: %w", m.Type, errSignallingDown)
	}
	if err := s.machine.Sent(m.Type); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn := s.signallingConn()
	if err := conn.Send(ctx, m); err != nil {
		if s.machine.Established() {
			// The read loop reports the broken connection, and the
			// call waits for a new one.
			_ = conn.Close()
			return fmt.Errorf("send %s: %w: %w", m.Type, errSignallingDown, err)
		}
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	if m.Type == signalling.TypeICERestart {
		// Sent only from the session loop, which owns s.loop.
		s.loop.sig.answerBy = time.After(restartAnswerTimeout)
	}
	return nil
}

// signallingConn is the current signalling connection.
func (s *session) signallingConn() *signalling.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// startReading starts a read loop on the current connection.
func (s *session) startReading() {
	done := make(chan struct{})
	s.readStarted, s.readerDone = true, done
	go s.readLoop(s.readCtx, s.signallingConn(), done)
}

// readLoop forwards the peer's messages on conn to the session loop until
// the connection ends.
func (s *session) readLoop(ctx context.Context, conn *signalling.Conn, done chan struct{}) {
	defer close(done)
	for {
		m, err := conn.Receive(ctx)
		// Messages and the final error share one channel so that a last
		// message (reject, hangup) is always seen before the end of the
		// connection.
		select {
		case s.inbox <- inbound{msg: m, err: err, conn: conn}:
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
	p := s.negotiating()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: raw}); err != nil {
		return fmt.Errorf("%w: apply remote %s: %w", ErrProtocol, typ, err)
	}
	p.mu.Lock()
	p.remoteReady = true
	pending := p.pendingRemote
	p.pendingRemote = nil
	p.mu.Unlock()
	for _, c := range pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: add remote candidate: %w", ErrProtocol, err)
		}
	}
	return nil
}

// maxRemoteCandidates bounds the candidates a peer may send per negotiation:
// each one costs connectivity checks.
const maxRemoteCandidates = 32

// remoteCandidate resolves a peer candidate to this node's view of the peer:
// the IP the signalling connection already runs over (or a later lookup
// found), so no second Lokinet session or DNS query is needed.
func (s *session) remoteCandidate(ctx context.Context, c signalling.Candidate) error {
	p := s.negotiating()
	p.mu.Lock()
	p.remoteCount++
	n := p.remoteCount
	p.mu.Unlock()
	if n > maxRemoteCandidates {
		return fmt.Errorf("%w: more than %d candidates", ErrProtocol, maxRemoteCandidates)
	}
	ip := s.remoteIP()
	init, err := p.ep.ImportCandidate(ctx, c, s.peer, func(context.Context, lokinet.Address) (netip.Addr, error) {
		return ip, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	p.mu.Lock()
	if !p.remoteReady {
		p.pendingRemote = append(p.pendingRemote, init)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("%w: add remote candidate: %w", ErrProtocol, err)
	}
	return nil
}

// localDescription creates the offer or answer of the path being
// negotiated, applies it and checks that it reveals nothing before it may
// leave the process.
func (s *session) localDescription(typ webrtc.SDPType) (string, error) {
	var (
		desc webrtc.SessionDescription
		err  error
	)
	p := s.negotiating()
	if typ == webrtc.SDPTypeOffer {
		desc, err = p.pc.CreateOffer(nil)
	} else {
		desc, err = p.pc.CreateAnswer(nil)
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", typ, err)
	}
	// pion writes candidates it has already gathered into the description
	// (and wants it applied unchanged); what leaves is the description
	// without them: candidates travel separately, translated.
	out := stripCandidates(desc.SDP)
	if err := ice.CheckLocalSDP(out); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("apply local %s: %w", typ, err)
	}
	return out, nil
}

// writeSample sends one encoded frame on the current media path; while a
// path is being replaced the frame is dropped, as the network would.
func (s *session) writeSample(payload []byte, d time.Duration) error {
	p := s.currentPath()
	if p == nil {
		return nil
	}
	err := p.track.WriteSample(pionmedia.Sample{Data: payload, Duration: d})
	if err != nil && !s.isCurrent(p) {
		return nil // the path was replaced under the write
	}
	return err
}

// startMedia starts sending and playing. It runs once the call is accepted
// and the media path is connected; the pipelines outlive path changes.
func (s *session) startMedia(ctx context.Context) error {
	src := s.source
	enc, err := media.NewEncoder(s.cfg.Encoder)
	if err != nil {
		return fmt.Errorf("opus encoder: %w", err)
	}
	mctx, cancel := context.WithCancel(ctx)
	s.mediaCancel = cancel
	s.mediaStarted = time.Now()
	sender := &media.Sender{
		Source:  src,
		Encoder: enc,
		Muted:   s.cfg.Muted,
		Level:   &s.live.mic,
		Write:   s.writeSample,
		Logger:  s.log,
	}
	s.mu.Lock()
	receiver := s.receiver
	s.mu.Unlock()
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
		if err := receiver.Run(mctx); err != nil && mctx.Err() == nil {
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
	if p := s.setPath(nil); p != nil {
		errs = append(errs, p.close())
	}
	s.mu.Lock()
	pending, draining := s.pending, s.draining
	s.pending, s.draining = nil, nil
	s.mu.Unlock()
	for _, p := range []*mediaPath{pending, draining} {
		if p != nil {
			errs = append(errs, p.close())
		}
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

// stripCandidates removes the a=candidate and a=end-of-candidates lines of
// an SDP.
func stripCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		t := strings.ToLower(strings.TrimSpace(l))
		if strings.HasPrefix(t, "a=candidate") || strings.HasPrefix(t, "a=end-of-candidates") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}
