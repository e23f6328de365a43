package call

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/signalling"
)

// phase is where a call stands as the session loop sees it. The signalling
// Machine keeps the protocol state (who may send what); the phase adds what
// only this side knows: whether its media path is up and audio runs.
type phase int

const (
	// phaseSetup: before accept; the media path may connect meanwhile.
	phaseSetup phase = iota
	// phaseAccepted: accepted; audio starts when the media path connects.
	phaseAccepted
	// phaseActive: audio runs.
	phaseActive
)

var phaseNames = [...]string{"setup", "accepted", "active"}

func (p phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return fmt.Sprintf("phase(%d)", int(p))
	}
	return phaseNames[p]
}

// callState is the session loop's state. Only the loop goroutine reads or
// writes it, through the session's event methods (on*).
type callState struct {
	phase phase
	// fellBack: the caller has moved the media to its fallback mode.
	fellBack bool
	// onionFailed: the onion path failed before accept; fall back on accept.
	onionFailed bool
	// waiting is the media path the loop waits for to connect, and
	// connected its connected signal; nil once seen.
	waiting   *mediaPath
	connected <-chan struct{}
	// iceUp is the current media path's ICE connected signal while the
	// loop waits for DTLS; dtlsTimer fires dtlsStall after it.
	iceUp     <-chan struct{}
	dtlsTimer <-chan time.Time
	// dtlsStalled: ICE connected but DTLS did not within dtlsStall.
	dtlsStalled bool
	// activeReported: StateActive was emitted (audio flows both ways).
	activeReported bool
	// decisions carries the callee's accept decision; nil once taken.
	decisions <-chan Decision

	ringTimer  <-chan time.Time
	setupTimer <-chan time.Time
	endTimer   <-chan time.Time
	// watch ticks while audio runs, to notice an interruption.
	watch *time.Ticker
	// watchC is watch's channel; nil while there is no watch.
	watchC <-chan time.Time
	// recovery is the restart state (the caller's restarts, the callee's
	// requests).
	recovery recovery
	// sig is the state of the signalling connection.
	sig sigState
	// lokinet follows the Lokinet daemon (its interface).
	lokinet daemonWatch
}

// run drives the session until the call ends, then releases everything and
// reports the statistics. decisions carries the callee's accept policy result
// and is nil on the caller's side.
func (s *session) run(ctx context.Context, decisions <-chan Decision) (*Stats, error) {
	rctx, stopRead := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRead()
	s.readCtx = rctx
	s.startReading()

	s.loop = callState{decisions: decisions}
	s.watchLokinet(rctx)
	s.waitFor(s.currentPath())
	if s.role == signalling.Caller {
		// The callee ends ringing itself; the caller waits a little longer
		// so the callee's own reason arrives first.
		s.loop.ringTimer = time.After(s.cfg.ringTimeout() + 5*time.Second)
	}
	e := s.events(ctx)
	if s.loop.watch != nil {
		s.loop.watch.Stop()
	}
	return s.finish(e)
}

// events waits for the next event and hands it to its method until one of
// them ends the call.
func (s *session) events(ctx context.Context) ending {
	for {
		var e *ending
		l := &s.loop
		select {
		case <-ctx.Done():
			e = s.onCancel(ctx)
		case in := <-s.inbox:
			if in.conn != s.signallingConn() {
				break // from a connection the call has left
			}
			if in.err != nil {
				e = s.onConnectionError(in.err)
			} else if e = s.onMessage(ctx, in.msg); e != nil && e.notify == "" {
				e.fromPeer = true
			}
		case <-l.connected:
			e = s.onConnected(ctx)
		case <-l.iceUp:
			l.iceUp = nil
			l.dtlsTimer = time.After(dtlsStall)
		case <-l.dtlsTimer:
			e = s.onDTLSStall()
		case err := <-s.failed:
			e = s.onPathFailed(err)
		case d := <-l.decisions:
			e = s.onDecision(ctx, d)
		case <-l.ringTimer:
			e = &ending{err: fmt.Errorf("%w: no answer within %v", ErrTimeout, s.cfg.ringTimeout()),
				reason: signalling.ReasonTimeout, notify: signalling.TypeHangup}
		case <-l.setupTimer:
			e = s.onSetupTimeout()
		case <-l.endTimer:
			e = &ending{reason: signalling.ReasonCompleted, notify: signalling.TypeHangup}
		case err := <-s.mediaDone:
			e = s.onMediaDone(err)
		case now := <-l.watchC:
			e = s.onWatch(now)
		case r := <-s.resumed:
			s.onResumed(r)
		case res := <-s.resolvedC:
			e = s.onResolved(res)
		case <-s.pathDownC:
			s.onPathDown()
		case r := <-s.resumeC:
			s.onResumeRequest(r)
		case r := <-s.redialC:
			e = s.onRedialled(r)
		case <-l.sig.limit:
			e = s.onSignallingTimeout()
		case <-l.sig.answerBy:
			s.onRestartUnanswered()
		case st, ok := <-l.lokinet.states:
			s.onLokinet(st, ok)
		case r := <-s.rediscovered:
			s.onRediscovered(r)
		}
		if e != nil {
			return *e
		}
	}
}

// hangUp is an ending that tells the peer with a hangup.
func hangUp(err error, reason string) *ending {
	return &ending{err: err, reason: reason, notify: signalling.TypeHangup}
}

// localError ends the call after a local failure.
func localError(err error) *ending { return hangUp(err, signalling.ReasonError) }

func (s *session) onCancel(ctx context.Context) *ending {
	if s.loop.phase == phaseActive {
		return hangUp(nil, signalling.ReasonCompleted)
	}
	return hangUp(ctx.Err(), signalling.ReasonCancelled)
}

// onConnectionError: the signalling connection ended or sent garbage. An
// established call waits for a new connection (resume.go).
func (s *session) onConnectionError(err error) *ending {
	switch {
	case errors.Is(err, signalling.ErrMalformed), errors.Is(err, signalling.ErrFrameTooLarge), errors.Is(err, signalling.ErrVersion):
	case s.machine.Established():
		s.onSignallingLost(err)
		return nil
	}
	switch {
	case errors.Is(err, io.EOF):
		return &ending{err: ErrConnectionLost, reason: signalling.ReasonConnectionLost}
	case errors.Is(err, signalling.ErrMalformed), errors.Is(err, signalling.ErrFrameTooLarge), errors.Is(err, signalling.ErrVersion):
		return hangUp(fmt.Errorf("%w: %w", ErrProtocol, err), signalling.ReasonProtocolError)
	}
	return &ending{err: fmt.Errorf("%w: %w", ErrConnectionLost, err), reason: signalling.ReasonConnectionLost}
}

// onConnected: the current media path is up.
func (s *session) onConnected(ctx context.Context) *ending {
	// The callee, the DTLS client, connects last, so its peer can receive
	// on the new path: it switches now. The caller switches when the
	// callee's audio arrives on the new path (session.receiving), or at
	// once if its current path never connected.
	if p := s.loop.waiting; p != nil && (s.role == signalling.Callee || !s.currentConnected()) && s.promote(p) {
		s.log.Info("the new media path connected and replaces the old one")
	}
	s.loop.waiting = nil
	s.loop.connected = nil
	s.loop.setupTimer = nil
	s.loop.iceUp, s.loop.dtlsTimer, s.loop.dtlsStalled = nil, nil, false
	if s.loop.phase == phaseActive {
		return nil
	}
	s.state(StateConnected, "")
	if err := s.maybeStartMedia(ctx); err != nil {
		return localError(err)
	}
	return nil
}

// maybeStartMedia starts audio once the call is accepted and the media path
// connected.
func (s *session) maybeStartMedia(ctx context.Context) error {
	l := &s.loop
	if l.phase != phaseAccepted || l.connected != nil {
		return nil
	}
	if err := s.startMedia(ctx); err != nil {
		return err
	}
	l.phase = phaseActive
	l.watch = time.NewTicker(watchInterval)
	l.watchC = l.watch.C
	if s.firstAudio.Load() != 0 {
		s.reportActive()
	}
	if s.cfg.Duration > 0 {
		l.endTimer = time.After(s.cfg.Duration)
	}
	return nil
}

// canFallBack: the caller may still move the media to its fallback mode.
func (s *session) canFallBack() bool {
	return s.role == signalling.Caller && s.cfg.Fallback != "" && !s.loop.fellBack && s.loop.phase != phaseActive
}

// startFallback moves the media to the fallback mode and waits for the new
// path.
func (s *session) startFallback() error {
	s.loop.fellBack = true
	if err := s.fallBack(); err != nil {
		return err
	}
	s.waitFor(s.currentPath())
	s.loop.setupTimer = time.After(s.cfg.setupTimeout())
	return nil
}

// onAccepted: the callee accepted (or this callee did).
func (s *session) onAccepted(ctx context.Context) error {
	l := &s.loop
	l.phase = phaseAccepted
	l.ringTimer = nil
	s.stopTone()
	s.state(StateAccepted, "")
	if l.onionFailed && s.canFallBack() {
		return s.startFallback()
	}
	if l.dtlsStalled && s.role == signalling.Caller {
		// DTLS stalled while it rang: rebuild now that a restart may be
		// sent.
		if err := s.sendRestart(); err != nil {
			return err
		}
	}
	if l.connected != nil {
		limit := s.cfg.setupTimeout()
		if s.canFallBack() {
			limit = min(limit, s.cfg.fallbackAfter())
		}
		l.setupTimer = time.After(limit)
	}
	return s.maybeStartMedia(ctx)
}

// onPathFailed: ICE or DTLS failed, or a local candidate broke the policy.
func (s *session) onPathFailed(err error) *ending {
	l := &s.loop
	switch {
	case errors.Is(err, ErrPolicy):
		return hangUp(err, signalling.ReasonPolicy)
	case l.phase == phaseActive:
		// An established call recovers (see recover.go) or ends after
		// the media timeout.
		s.log.Warn("media path failed", "err", err)
		s.onPathDown()
	case s.canFallBack() && l.phase == phaseAccepted:
		s.log.Warn("onion media path failed", "err", err)
		if err := s.startFallback(); err != nil {
			return localError(err)
		}
	case s.canFallBack():
		l.onionFailed = true // fall back as soon as the call is accepted
	case s.role == signalling.Callee && l.phase != phaseActive:
		// The caller decides: it falls back or hangs up; the setup timer
		// bounds the wait.
		s.log.Warn("media path failed; waiting for the caller", "err", err)
	default:
		return hangUp(err, signalling.ReasonMediaFailed)
	}
	return nil
}

// onDecision: the callee's policy or person decided.
func (s *session) onDecision(ctx context.Context, d Decision) *ending {
	s.loop.decisions = nil
	if !d.Accept {
		reason := d.Reason
		if reason == "" {
			reason = signalling.ReasonDeclined
		}
		return &ending{err: fmt.Errorf("%w: %s", ErrRejected, reason), reason: reason, notify: signalling.TypeReject}
	}
	if s.deferredAnswer {
		s.deferredAnswer = false
		if err := s.sendAnswer(); err != nil {
			return &ending{err: err, reason: signalling.ReasonError, notify: signalling.TypeReject}
		}
	}
	if err := s.send(signalling.Message{Type: signalling.TypeAccept}); err != nil {
		return &ending{err: err, reason: signalling.ReasonError}
	}
	if err := s.onAccepted(ctx); err != nil {
		return localError(err)
	}
	return nil
}

// onSetupTimeout: the media path did not connect in time after accept.
func (s *session) onSetupTimeout() *ending {
	if s.canFallBack() {
		s.log.Warn("onion media path not connected in time", "after", s.cfg.fallbackAfter())
		if err := s.startFallback(); err != nil {
			return localError(err)
		}
		return nil
	}
	return hangUp(fmt.Errorf("%w: media path not connected within %v of accept", ErrMediaFailed, s.cfg.setupTimeout()),
		signalling.ReasonMediaFailed)
}

// onMediaDone: the audio source ended or a pipeline failed.
func (s *session) onMediaDone(err error) *ending {
	if errors.Is(err, io.EOF) {
		return hangUp(nil, signalling.ReasonCompleted)
	}
	return hangUp(fmt.Errorf("%w: %w", ErrAudio, err), signalling.ReasonAudioFailed)
}

// onMessage processes one message from the peer.
func (s *session) onMessage(ctx context.Context, m signalling.Message) *ending {
	if err := s.machine.Check(m); err != nil {
		switch {
		case m.Type.IsRestart():
			return s.refuseRestart(m, signalling.ReasonWrongCall, err)
		case m.Type == signalling.TypeRestartRefused:
			s.log.Warn("ignoring a restart refusal", "err", err)
			return nil
		}
		return hangUp(fmt.Errorf("%w: %w", ErrProtocol, err), signalling.ReasonProtocolError)
	}
	if err := s.machine.Received(m.Type); err != nil {
		switch {
		case m.Type.IsRestart():
			return s.refuseRestart(m, signalling.ReasonNotNow, err)
		case m.Type == signalling.TypeRestartRefused:
			s.log.Warn("ignoring a restart refusal", "err", err)
			return nil
		}
		return hangUp(fmt.Errorf("%w: %w", ErrProtocol, err), signalling.ReasonProtocolError)
	}
	switch m.Type {
	case signalling.TypeRinging:
		s.state(StateRinging, "")
		s.playTone(ringbackTone)
	case signalling.TypeAnswer:
		if err := s.applyRemoteDescription(webrtc.SDPTypeAnswer, m.SDP); err != nil {
			return localError(err)
		}
		if err := s.peerPtime(m.Ptime); err != nil {
			return localError(err)
		}
	case signalling.TypeCandidate:
		err := s.remoteCandidate(ctx, *m.Candidate)
		switch {
		case errors.Is(err, ice.ErrRefusedCandidate):
			// Ignored, not fatal: a peer may offer addresses this side
			// will not use (an IPv6 link-local one, say).
			s.log.Warn("ignoring a remote candidate", "err", err)
		case err != nil:
			return localError(err)
		}
	case signalling.TypeEndOfCandidates:
		// pion needs no end-of-candidates signal for host candidates.
	case signalling.TypeAccept:
		if err := s.onAccepted(ctx); err != nil {
			return localError(err)
		}
	case signalling.TypeRestart:
		return s.onFallbackOffer(m)
	case signalling.TypeICERestart:
		return s.onICERestart(m)
	case signalling.TypeRestartRefused:
		s.onRestartRefused(m)
	case signalling.TypeRestartRequest:
		s.onRestartRequest()
	case signalling.TypeBusy:
		return &ending{err: ErrBusy, reason: signalling.ReasonBusy}
	case signalling.TypeReject:
		if m.Reason == signalling.ReasonTimeout {
			return &ending{err: fmt.Errorf("%w: callee did not answer", ErrTimeout), reason: m.Reason}
		}
		return &ending{err: fmt.Errorf("%w: %s", ErrRejected, m.Reason), reason: m.Reason}
	case signalling.TypeHangup:
		return s.onHangup(m.Reason)
	default:
		return hangUp(fmt.Errorf("%w: unexpected %s", ErrProtocol, m.Type), signalling.ReasonProtocolError)
	}
	return nil
}

// onHangup: the peer hung up with reason.
func (s *session) onHangup(reason string) *ending {
	switch {
	case reason == signalling.ReasonMediaFailed:
		return &ending{err: fmt.Errorf("%w: the peer's media path failed", ErrMediaFailed), reason: reason}
	case reason == signalling.ReasonMediaLost:
		return &ending{err: fmt.Errorf("%w: the peer heard no audio for too long", ErrMediaLost), reason: reason}
	case reason == signalling.ReasonLokinetRestarted:
		return &ending{err: fmt.Errorf("%w: the peer's Lokinet went away and the audio did not come back", ErrLokinetRestarted), reason: reason}
	case s.loop.phase == phaseActive:
		return &ending{reason: reason}
	case s.role == signalling.Callee && s.loop.phase == phaseAccepted:
		// Accepted, so not a missed call: the caller gave up while the
		// media path was still being built.
		return &ending{err: fmt.Errorf("%w: the caller hung up before audio started (%s)", ErrMediaFailed, reason), reason: reason}
	case s.role == signalling.Callee:
		return &ending{err: ErrCallerHungUp, reason: reason}
	}
	return &ending{err: fmt.Errorf("%w: callee hung up before media (%s)", ErrRejected, reason), reason: reason}
}

// onFallbackOffer: the caller moves the media to a fallback mode.
func (s *session) onFallbackOffer(m signalling.Message) *ending {
	if s.loop.phase == phaseActive {
		// A fallback replaces a media path that never carried audio;
		// moving a live call would race the running media.
		return hangUp(fmt.Errorf("%w: restart after audio started", ErrProtocol), signalling.ReasonProtocolError)
	}
	mode := s.cfg.calleeMode(ice.Mode(m.Mode))
	if err := s.cfg.checkMode(mode); err != nil {
		return &ending{err: fmt.Errorf("%w: caller asked to fall back: %w", ErrRejected, err),
			reason: signalling.ReasonFallbackRefused, notify: signalling.TypeReject}
	}
	if err := s.answerFallback(mode, m.SDP, m.Ptime); err != nil {
		return &ending{err: fmt.Errorf("%w: cannot follow the caller to %s: %w", ErrRejected, mode, err),
			reason: signalling.ReasonFallbackRefused, notify: signalling.TypeReject}
	}
	s.waitFor(s.currentPath())
	s.loop.setupTimer = time.After(s.cfg.setupTimeout())
	return nil
}

// currentConnected reports whether the current media path ever connected.
func (s *session) currentConnected() bool {
	p := s.currentPath()
	if p == nil {
		return false
	}
	select {
	case <-p.connected:
		return true
	default:
		return false
	}
}

// waitFor makes the loop wait for p to connect.
func (s *session) waitFor(p *mediaPath) {
	l := &s.loop
	l.waiting, l.connected, l.iceUp, l.dtlsTimer, l.dtlsStalled = p, p.connected, p.iceUp, nil, false
}

// dtlsStall is how long after ICE connected DTLS may take before the media
// path is rebuilt: two retransmissions of a lost flight (ice.OnionTimers)
// and a round trip or two.
const dtlsStall = 4 * time.Second

// onDTLSStall: ICE connected dtlsStall ago and DTLS has not. A lost final
// handshake flight can leave one side connected and the other waiting; the
// caller rebuilds the media path (new endpoint, new DTLS) rather than wait,
// the callee waits for it (a caller that hears nothing rebuilds too).
func (s *session) onDTLSStall() *ending {
	l := &s.loop
	l.dtlsTimer = nil
	if l.connected == nil {
		return nil
	}
	l.dtlsStalled = true
	s.log.Warn("ICE connected but DTLS did not", "after", dtlsStall)
	if s.role != signalling.Caller || s.machine.State() != signalling.StateAccepted {
		return nil // before accept: onAccepted rebuilds
	}
	if err := s.sendRestart(); err != nil {
		return localError(err)
	}
	return nil
}

// reportActive says the call is active once audio flows both ways: this
// side sends and the peer's audio has arrived.
func (s *session) reportActive() {
	if s.loop.activeReported {
		return
	}
	s.loop.activeReported = true
	s.state(StateActive, "")
}

// finish tells the peer if needed, collects statistics, releases everything
// and emits the end of the call.
func (s *session) finish(e ending) (*Stats, error) {
	s.endReason = e.reason
	s.closeDone.Do(func() { close(s.readDone) })
	stats := s.collectStats()
	s.stopTone()
	if e.notify != "" {
		s.resumeToEnd()
		if err := s.send(signalling.Message{Type: e.notify, Reason: e.reason}); err != nil {
			s.log.Debug("could not tell peer the call ended", "err", err)
		}
	}
	s.playEndTone(e)
	if err := s.closeMedia(); err != nil {
		s.log.Warn("closing call", "err", err)
	}
	if s.sinkErr != nil && e.err == nil {
		e.err = s.sinkErr
	}
	s.closeSignalling()
	if !s.mediaStarted.IsZero() {
		s.emit.emit(Event{Kind: EventStats, CallID: s.callID, Peer: s.peer.String(), Stats: stats})
	}
	ev := Event{Kind: EventState, CallID: s.callID, State: StateEnded, Peer: s.peer.String(), Reason: e.reason}
	switch {
	case e.notify != "":
		ev.By = EndedByLocal
	case e.fromPeer:
		ev.By = EndedByPeer
	}
	if e.err != nil {
		ev.Message = e.err.Error()
	}
	s.emit.emit(ev)
	return stats, e.err
}

func (s *session) state(st State, reason string) {
	s.log.Info("call state", "state", st)
	s.emit.emit(Event{Kind: EventState, CallID: s.callID, State: st, Peer: s.peer.String(), Reason: reason})
}

// signallingLinger bounds how long a finished call waits for the peer to
// read its last message and close.
const signallingLinger = 2 * time.Second

// closeSignalling ends the signalling connection without destroying the last
// message in flight: it half-closes, keeps reading (and discarding) until the
// peer closes too or signallingLinger passes, then closes.
func (s *session) closeSignalling() {
	conn := s.signallingConn()
	if err := conn.CloseWrite(); err == nil && s.readStarted {
		timeout := time.NewTimer(signallingLinger)
		defer timeout.Stop()
	drain:
		for {
			select {
			case <-s.inbox:
			case <-s.readerDone:
				break drain
			case <-timeout.C:
				break drain
			}
		}
	}
	_ = conn.Close()
}

// fallBack moves the caller's media to the fallback mode: announced first,
// then a new media path and a restart offer to the callee.
func (s *session) fallBack() error {
	mode := s.cfg.Fallback
	s.emit.emit(Event{Kind: EventState, CallID: s.callID, State: StateFallback, Peer: s.peer.String(),
		Mode: string(mode), Reason: signalling.ReasonOnionMediaFailed, Message: ice.ExposureNotice(mode, s.cfg.Servers)})
	if _, err := s.replacePath(mode); err != nil {
		return fmt.Errorf("fallback to %s: %w", mode, err)
	}
	sdp, err := s.localDescription(webrtc.SDPTypeOffer)
	if err != nil {
		return fmt.Errorf("fallback to %s: %w", mode, err)
	}
	if err := s.send(signalling.Message{Type: signalling.TypeRestart, SDP: sdp, Mode: string(mode), Ptime: s.ptime()}); err != nil {
		return err
	}
	return s.localDescriptionSent()
}

// answerFallback follows the caller to a fallback mode the callee has
// consented to.
func (s *session) answerFallback(mode ice.Mode, offer string, ptime int) error {
	s.emit.emit(Event{Kind: EventState, CallID: s.callID, State: StateFallback, Peer: s.peer.String(),
		Mode: string(mode), Reason: signalling.ReasonCallerFallback, Message: ice.ExposureNotice(mode, s.cfg.Servers)})
	if _, err := s.replacePath(mode); err != nil {
		return fmt.Errorf("fallback to %s: %w", mode, err)
	}
	if err := s.applyRemoteDescription(webrtc.SDPTypeOffer, offer); err != nil {
		return err
	}
	if err := s.peerPtime(ptime); err != nil {
		return err
	}
	return s.sendAnswer()
}

// sendAnswer creates, checks and sends the callee's answer, then lets its
// candidates follow.
func (s *session) sendAnswer() error {
	sdp, err := s.localDescription(webrtc.SDPTypeAnswer)
	if err != nil {
		return err
	}
	if err := s.send(signalling.Message{Type: signalling.TypeAnswer, SDP: sdp, Mode: string(s.mode), Ptime: s.ptime()}); err != nil {
		if errors.Is(err, errSignallingDown) {
			// Lost with the connection; resuming drops the restart
			// it answered, and the caller restarts again.
			s.log.Warn("could not answer", "err", err)
			return nil
		}
		return err
	}
	return s.localDescriptionSent()
}
