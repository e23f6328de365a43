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

// run drives the session until the call ends, then releases everything and
// reports the statistics. decisions carries the callee's accept policy result
// and is nil on the caller's side.
func (s *session) run(ctx context.Context, decisions <-chan Decision) (*Stats, error) {
	rctx, stopRead := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRead()
	s.readStarted = true
	go s.readLoop(rctx)

	var (
		accepted    bool
		fellBack    bool
		onionFailed bool
		connected   = s.connected
		ringTimer   <-chan time.Time
		setupTimer  <-chan time.Time
		endTimer    <-chan time.Time
	)
	if s.role == signalling.Caller {
		// The callee ends ringing itself; the caller waits a little longer
		// so the callee's own reason arrives first.
		ringTimer = time.After(s.cfg.ringTimeout() + 5*time.Second)
	}

	maybeStart := func() error {
		if !accepted || connected != nil || !s.mediaStarted.IsZero() {
			return nil
		}
		if err := s.startMedia(ctx); err != nil {
			return err
		}
		s.state(StateActive, "")
		if s.cfg.Duration > 0 {
			endTimer = time.After(s.cfg.Duration)
		}
		return nil
	}
	canFallBack := func() bool {
		return s.role == signalling.Caller && s.cfg.Fallback != "" && !fellBack && s.mediaStarted.IsZero()
	}
	fallback := func() error {
		fellBack = true
		if err := s.fallBack(); err != nil {
			return err
		}
		connected = s.connected
		setupTimer = time.After(s.cfg.setupTimeout())
		return nil
	}
	accept := func() error {
		accepted = true
		ringTimer = nil
		s.state(StateAccepted, "")
		if onionFailed && canFallBack() {
			return fallback()
		}
		if connected != nil {
			limit := s.cfg.setupTimeout()
			if canFallBack() {
				limit = min(limit, s.cfg.fallbackAfter())
			}
			setupTimer = time.After(limit)
		}
		return maybeStart()
	}

	end := func() ending {
		for {
			select {
			case <-ctx.Done():
				if !s.mediaStarted.IsZero() {
					return ending{reason: "completed", notify: signalling.TypeHangup}
				}
				return ending{err: ctx.Err(), reason: "cancelled", notify: signalling.TypeHangup}

			case in := <-s.inbox:
				if in.err == nil {
					if e, done := s.handle(ctx, in.msg, accept); done {
						return e
					}
					if s.restarted {
						// The callee rebuilt its media path for a fallback.
						s.restarted = false
						connected = s.connected
						setupTimer = time.After(s.cfg.setupTimeout())
					}
					continue
				}
				err := in.err
				if errors.Is(err, io.EOF) {
					return ending{err: ErrConnectionLost, reason: "connection-lost"}
				}
				if errors.Is(err, signalling.ErrMalformed) || errors.Is(err, signalling.ErrFrameTooLarge) || errors.Is(err, signalling.ErrVersion) {
					return ending{err: fmt.Errorf("%w: %w", ErrProtocol, err), reason: "protocol-error", notify: signalling.TypeHangup}
				}
				return ending{err: fmt.Errorf("%w: %w", ErrConnectionLost, err), reason: "connection-lost"}

			case <-connected:
				connected = nil
				setupTimer = nil
				s.state(StateConnected, "")
				if err := maybeStart(); err != nil {
					return ending{err: err, reason: "error", notify: signalling.TypeHangup}
				}

			case err := <-s.failed:
				switch {
				case errors.Is(err, ErrPolicy):
					return ending{err: err, reason: "policy", notify: signalling.TypeHangup}
				case canFallBack() && accepted:
					s.log.Warn("onion media path failed", "err", err)
					if err := fallback(); err != nil {
						return ending{err: err, reason: "error", notify: signalling.TypeHangup}
					}
				case canFallBack():
					onionFailed = true // fall back as soon as the call is accepted
				case s.role == signalling.Callee && s.mediaStarted.IsZero():
					// The caller decides: it falls back or hangs up; the
					// setup timer bounds the wait.
					s.log.Warn("media path failed; waiting for the caller", "err", err)
				default:
					return ending{err: err, reason: "media-failed", notify: signalling.TypeHangup}
				}

			case d := <-decisions:
				decisions = nil
				if !d.Accept {
					reason := d.Reason
					if reason == "" {
						reason = "declined"
					}
					return ending{err: fmt.Errorf("%w: %s", ErrRejected, reason), reason: reason, notify: signalling.TypeReject}
				}
				if s.deferredAnswer {
					s.deferredAnswer = false
					if err := s.sendAnswer(); err != nil {
						return ending{err: err, reason: "error", notify: signalling.TypeReject}
					}
				}
				if err := s.send(signalling.Message{Type: signalling.TypeAccept}); err != nil {
					return ending{err: err, reason: "error"}
				}
				if err := accept(); err != nil {
					return ending{err: err, reason: "error", notify: signalling.TypeHangup}
				}

			case <-ringTimer:
				return ending{err: fmt.Errorf("%w: no answer within %v", ErrTimeout, s.cfg.ringTimeout()), reason: "timeout", notify: signalling.TypeHangup}

			case <-setupTimer:
				if canFallBack() {
					s.log.Warn("onion media path not connected in time", "after", s.cfg.fallbackAfter())
					if err := fallback(); err != nil {
						return ending{err: err, reason: "error", notify: signalling.TypeHangup}
					}
					continue
				}
				return ending{err: fmt.Errorf("%w: media path not connected within %v of accept", ErrMediaFailed, s.cfg.setupTimeout()),
					reason: "media-failed", notify: signalling.TypeHangup}

			case <-endTimer:
				return ending{reason: "completed", notify: signalling.TypeHangup}

			case err := <-s.mediaDone:
				if errors.Is(err, io.EOF) {
					return ending{reason: "completed", notify: signalling.TypeHangup}
				}
				return ending{err: fmt.Errorf("%w: %w", ErrAudio, err), reason: "audio-failed", notify: signalling.TypeHangup}
			}
		}
	}()
	return s.finish(end)
}

// handle processes one message from the peer. It reports done when the
// message ends the call.
func (s *session) handle(ctx context.Context, m signalling.Message, accept func() error) (ending, bool) {
	if err := s.machine.Check(m); err != nil {
		return ending{err: fmt.Errorf("%w: %w", ErrProtocol, err), reason: "protocol-error", notify: signalling.TypeHangup}, true
	}
	if err := s.machine.Received(m.Type); err != nil {
		return ending{err: fmt.Errorf("%w: %w", ErrProtocol, err), reason: "protocol-error", notify: signalling.TypeHangup}, true
	}
	fail := func(err error) (ending, bool) {
		return ending{err: err, reason: "error", notify: signalling.TypeHangup}, true
	}
	switch m.Type {
	case signalling.TypeRinging:
		s.state(StateRinging, "")
	case signalling.TypeAnswer:
		if err := s.applyRemoteDescription(webrtc.SDPTypeAnswer, m.SDP); err != nil {
			return fail(err)
		}
		if err := s.peerPtime(m.Ptime); err != nil {
			return fail(err)
		}
	case signalling.TypeCandidate:
		err := s.remoteCandidate(ctx, *m.Candidate)
		switch {
		case errors.Is(err, ice.ErrRefusedCandidate):
			// Ignored, not fatal: a peer may offer addresses this side
			// will not use (an IPv6 link-local one, say).
			s.log.Warn("ignoring a remote candidate", "err", err)
		case err != nil:
			return fail(err)
		}
	case signalling.TypeEndOfCandidates:
		// pion needs no end-of-candidates signal for host candidates.
	case signalling.TypeAccept:
		if err := accept(); err != nil {
			return fail(err)
		}
	case signalling.TypeRestart:
		if !s.mediaStarted.IsZero() {
			// A fallback replaces a media path that never carried audio;
			// moving a live call would race the running media.
			return ending{err: fmt.Errorf("%w: restart after audio started", ErrProtocol), reason: "protocol-error", notify: signalling.TypeHangup}, true
		}
		mode := s.cfg.calleeMode(ice.Mode(m.Mode))
		if err := s.cfg.checkMode(mode); err != nil {
			return ending{err: fmt.Errorf("%w: caller asked to fall back: %w", ErrRejected, err),
				reason: "fallback-refused", notify: signalling.TypeReject}, true
		}
		if err := s.answerRestart(mode, m.SDP, m.Ptime); err != nil {
			return ending{err: fmt.Errorf("%w: cannot follow the caller to %s: %w", ErrRejected, mode, err),
				reason: "fallback-refused", notify: signalling.TypeReject}, true
		}
	case signalling.TypeBusy:
		return ending{err: ErrBusy, reason: "busy"}, true
	case signalling.TypeReject:
		if m.Reason == "timeout" {
			return ending{err: fmt.Errorf("%w: callee did not answer", ErrTimeout), reason: m.Reason}, true
		}
		return ending{err: fmt.Errorf("%w: %s", ErrRejected, m.Reason), reason: m.Reason}, true
	case signalling.TypeHangup:
		if m.Reason == "media-failed" {
			return ending{err: fmt.Errorf("%w: the peer's media path failed", ErrMediaFailed), reason: m.Reason}, true
		}
		if s.mediaStarted.IsZero() {
			if s.role == signalling.Callee {
				return ending{err: ErrCallerHungUp, reason: m.Reason}, true
			}
			return ending{err: fmt.Errorf("%w: callee hung up before media (%s)", ErrRejected, m.Reason), reason: m.Reason}, true
		}
		return ending{reason: m.Reason}, true
	default:
		return ending{err: fmt.Errorf("%w: unexpected %s", ErrProtocol, m.Type), reason: "protocol-error", notify: signalling.TypeHangup}, true
	}
	return ending{}, false
}

// finish tells the peer if needed, collects statistics, releases everything
// and emits the end of the call.
func (s *session) finish(e ending) (*Stats, error) {
	stats := s.collectStats()
	if e.notify != "" {
		if err := s.send(signalling.Message{Type: e.notify, Reason: e.reason}); err != nil {
			s.log.Debug("could not tell peer the call ended", "err", err)
		}
	}
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
	if err := s.conn.CloseWrite(); err == nil && s.readStarted {
		timeout := time.NewTimer(signallingLinger)
		defer timeout.Stop()
	drain:
		for {
			select {
			case <-s.inbox:
			case <-s.readDone:
				break drain
			case <-timeout.C:
				break drain
			}
		}
	}
	_ = s.conn.Close()
}

// fallBack moves the caller's media to the fallback mode: announced first,
// then a new media path and a restart offer to the callee.
func (s *session) fallBack() error {
	mode := s.cfg.Fallback
	s.emit.emit(Event{Kind: EventState, CallID: s.callID, State: StateFallback, Peer: s.peer.String(),
		Mode: string(mode), Reason: "onion-media-failed", Message: ice.ExposureNotice(mode, s.cfg.Servers)})
	s.tearDownMediaPath()
	s.mode = mode
	if err := s.setupMediaPath(); err != nil {
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

// answerRestart follows the caller to a fallback mode the callee has
// consented to.
func (s *session) answerRestart(mode ice.Mode, offer string, ptime int) error {
	s.emit.emit(Event{Kind: EventState, CallID: s.callID, State: StateFallback, Peer: s.peer.String(),
		Mode: string(mode), Reason: "caller-fallback", Message: ice.ExposureNotice(mode, s.cfg.Servers)})
	s.tearDownMediaPath()
	s.mode = mode
	if err := s.setupMediaPath(); err != nil {
		return fmt.Errorf("fallback to %s: %w", mode, err)
	}
	if err := s.applyRemoteDescription(webrtc.SDPTypeOffer, offer); err != nil {
		return err
	}
	if err := s.peerPtime(ptime); err != nil {
		return err
	}
	s.restarted = true
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
		return err
	}
	return s.localDescriptionSent()
}
