package call

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/signalling"
)

// restartBackoff spaces the caller's restarts within one interruption: the
// first comes after Config.RecoverAfter, the next ones after these
// intervals, the last repeated. The old path stays in use meanwhile and
// resumes by itself when it comes back; a restart's new path matters when
// it cannot (the peer mapped anew, a dead socket). Each new path is checked
// for 5 s (25 checks 200 ms apart, ice.OnionTimers), longer than the 4 s
// before the next one replaces it.
var restartBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

// calleeMediaSlack is how much longer than its media timeout a callee waits
// for the caller, which decides, to say the media is lost.
const calleeMediaSlack = 5 * time.Second

// resolved is the result of looking the peer's address up again.
type resolved struct {
	ip  netip.Addr
	err error
}

// recovery is the restart state (the caller's restarts, the callee's
// requests); part of callState.
type recovery struct {
	// attempts counts the restarts of the current interruption.
	attempts int
	// next is when the next restart may start.
	next time.Time
	// resolving: a lookup of the peer runs; its result comes on
	// session.resolvedC.
	resolving bool
	// requestAfterLookup: the callee asks for a restart once its lookup
	// of the caller is done, so that the caller's new candidates are
	// translated to the caller's address as Lokinet maps it now.
	requestAfterLookup bool
}

// whileInterrupted runs on every watch tick of an interruption that has
// lasted silent: the caller restarts the media path, with backoff; past the
// media timeout the call ends.
func (s *session) whileInterrupted(now time.Time, silent time.Duration) *ending {
	if e := s.lokinetEnding(silent); e != nil {
		return e
	}
	if s.loop.lokinet.down {
		// Nothing can be built or sent before the daemon is back
		// (onRediscovered restarts then).
		return nil
	}
	limit := s.cfg.mediaTimeout()
	if s.role == signalling.Callee {
		limit += calleeMediaSlack
	}
	if silent > limit {
		return hangUp(fmt.Errorf("%w: no audio from the peer for %v", ErrMediaLost, silent.Round(time.Second)),
			signalling.ReasonMediaLost)
	}
	if silent >= s.cfg.recoverAfter() {
		if s.role == signalling.Caller {
			s.maybeRestart(now)
		} else {
			s.maybeRequestRestart(now)
		}
	}
	return nil
}

// maybeRequestRestart: a callee that hears nothing asks the caller to
// restart, with the caller's backoff: the path may be broken only towards
// the callee, and then the caller, which hears fine, would not restart on
// its own.
func (s *session) maybeRequestRestart(now time.Time) {
	r := &s.loop.recovery
	if now.Before(r.next) || s.loop.lokinet.down {
		return
	}
	st := s.machine.State()
	if st != signalling.StateAccepted && st != signalling.StateRestarting {
		return
	}
	r.next = now.Add(restartBackoff[min(r.attempts, len(restartBackoff)-1)])
	r.attempts++
	s.log.Info("asking the caller to restart the media path", "attempt", r.attempts)
	if err := s.send(signalling.Message{Type: signalling.TypeRestartRequest}); err != nil {
		s.log.Warn("could not ask for a restart", "err", err)
	}
}

// onRestartRequest: the callee hears nothing; restart when the backoff
// allows, even if this side hears the callee.
func (s *session) onRestartRequest() {
	if s.loop.phase == phaseActive {
		s.maybeRestart(time.Now())
	}
}

// maybeRestart starts a restart when the backoff allows and none is under
// way: first a new lookup of the peer (Lokinet may have mapped it anew),
// then the restart offer (onResolved).
func (s *session) maybeRestart(now time.Time) {
	r := &s.loop.recovery
	if r.resolving || now.Before(r.next) || s.machine.State() != signalling.StateAccepted || s.loop.lokinet.down {
		return
	}
	wait := restartBackoff[min(r.attempts, len(restartBackoff)-1)]
	r.attempts++
	r.next = now.Add(wait)
	s.log.Info("restarting the media path", "attempt", r.attempts)
	s.lookUpPeer(wait)
}

// lookUpPeer looks the peer's .loki address up again, giving up after
// wait (the longest restart backoff if 0); the result comes on
// session.resolvedC (onResolved).
func (s *session) lookUpPeer(wait time.Duration) {
	if s.loop.recovery.resolving {
		return
	}
	if wait <= 0 {
		wait = restartBackoff[len(restartBackoff)-1]
	}
	s.loop.recovery.resolving = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		ip, err := s.cfg.Resolver.LookupIP(ctx, s.peer.String())
		select {
		case s.resolvedC <- resolved{ip: ip, err: err}:
		case <-s.readDone:
		}
	}()
}

// onResolved: a new lookup of the peer finished; the caller sends the
// restart offer.
func (s *session) onResolved(res resolved) *ending {
	r := &s.loop.recovery
	r.resolving = false
	switch {
	case res.err != nil:
		// Lokinet's DNS may be down for a moment (a daemon restart); the
		// restart goes on with the address known so far.
		s.log.Warn("looking up the peer again failed; restarting with its known address", "err", res.err)
	case !s.localNode().Contains(res.ip):
		s.log.Warn("peer resolved outside the Lokinet range; keeping its known address", "ip", res.ip)
	default:
		s.mu.Lock()
		if s.peerIP != res.ip {
			s.log.Info("peer's Lokinet address mapped anew", "was", s.peerIP, "now", res.ip)
			s.peerIP = res.ip
		}
		s.mu.Unlock()
	}
	if r.requestAfterLookup {
		r.requestAfterLookup = false
		s.maybeRequestRestart(time.Now())
	}
	if s.role != signalling.Caller || s.loop.phase != phaseActive || s.machine.State() != signalling.StateAccepted || s.loop.lokinet.down {
		return nil
	}
	if err := s.sendRestart(); err != nil {
		s.log.Warn("restarting the media path failed", "err", err)
	}
	return nil
}

// sendRestart builds a new media path (new socket, new ICE credentials,
// new DTLS) beside the current one and sends its offer as ice-restart. The
// current path keeps carrying audio until the new one connects (onConnected
// promotes it), so a path that comes back by itself is used at once, while
// the offer may still be crossing the same broken path; a dead socket or a
// one-sided DTLS handshake is left behind with the old path.
func (s *session) sendRestart() error {
	p, err := s.startPending()
	if err != nil {
		return fmt.Errorf("new media path: %w", err)
	}
	s.waitFor(p)
	sdp, err := s.localDescription(webrtc.SDPTypeOffer)
	if err != nil {
		return fmt.Errorf("restart offer: %w", err)
	}
	if err := s.send(signalling.Message{Type: signalling.TypeICERestart, SDP: sdp, Mode: string(s.mode), Ptime: s.ptime()}); err != nil {
		return err
	}
	s.quality.addRecovery()
	return s.localDescriptionSent()
}

// onICERestart: the callee follows the caller's restart with a new media
// path of its own beside the current one, answered from it.
func (s *session) onICERestart(m signalling.Message) *ending {
	if mode := ice.Mode(m.Mode); mode != s.mode && !(mode == "" && s.mode == ice.ModeOnion) {
		// A change of mode is a fallback, with its own consent checks.
		return s.refuseRestart(m, signalling.ReasonRestartFailed,
			fmt.Errorf("%w: ice-restart to %q mode in a %s call", ErrProtocol, m.Mode, s.mode))
	}
	s.log.Info("the caller restarts the media path")
	p, err := s.startPending()
	if err != nil {
		return s.refuseRestart(m, signalling.ReasonRestartFailed, fmt.Errorf("new media path: %w", err))
	}
	s.quality.addRecovery()
	s.waitFor(p)
	if err := s.applyRemoteDescription(webrtc.SDPTypeOffer, m.SDP); err != nil {
		s.dropPending(p)
		return s.refuseRestart(m, signalling.ReasonRestartFailed, err)
	}
	if err := s.sendAnswer(); err != nil {
		return localError(err)
	}
	return nil
}

// dropPending closes the pending path p and waits for the current one
// again.
func (s *session) dropPending(p *mediaPath) {
	s.mu.Lock()
	if s.pending == p {
		s.pending = nil
	}
	s.mu.Unlock()
	_ = p.close()
	if cur := s.currentPath(); cur != nil {
		select {
		case <-cur.connected:
			s.loop.waiting, s.loop.connected, s.loop.iceUp, s.loop.dtlsTimer = nil, nil, nil, nil
		default:
			s.waitFor(cur)
		}
	}
}

// refuseRestart answers a restart this side will not follow with
// restart-refused and goes on with the call.
func (s *session) refuseRestart(m signalling.Message, reason string, why error) *ending {
	s.log.Warn("refusing a restart", "type", m.Type, "call", m.CallID, "reason", reason, "err", why)
	s.emit.emit(Event{Kind: EventError, CallID: s.callID, Peer: s.peer.String(), Reason: reason,
		Message: fmt.Sprintf("refused the peer's %s: %v", m.Type, why)})
	if err := s.send(signalling.Message{Type: signalling.TypeRestartRefused, Reason: reason}); err != nil {
		s.log.Debug("could not refuse the restart", "err", err)
	}
	return nil
}

// onRestartRefused: the peer would not follow a restart. The call goes on
// on the current path; the caller tries again after the backoff.
func (s *session) onRestartRefused(m signalling.Message) {
	s.log.Warn("the peer refused a restart", "reason", m.Reason)
	if s.role == signalling.Caller {
		s.mu.Lock()
		p := s.pending
		s.mu.Unlock()
		if p != nil {
			s.dropPending(p)
		}
	}
}

// recoveryRTTs is the time from the path's return, as this side can tell it
// (the first packet of any kind on the media socket after the silence), to
// the first packet of audio at, in path round trips; 0 when unknown.
func (s *session) recoveryRTTs(at time.Time) (float64, bool) {
	back, ok := s.inbound.returnedAfter(s.silenceBegan())
	rtt := s.quality.medianRTT()
	if !ok || rtt <= 0 || back.After(at) {
		return 0, false
	}
	return ms(at.Sub(back)) / rtt, true
}

// recovered resets recovery after audio came back.
func (s *session) recovered() {
	r := &s.loop.recovery
	r.attempts, r.next = 0, time.Time{}
	s.loop.lokinet.restarted = s.loop.lokinet.down
}

// onPathDown: ICE reported the path disconnected or failed while audio
// runs. The caller restarts without waiting for the recovery grace.
func (s *session) onPathDown() {
	if s.role == signalling.Caller && s.loop.phase == phaseActive {
		s.loop.recovery.next = time.Time{}
		if _, interrupted := s.quality.interruptedSince(); interrupted {
			s.maybeRestart(time.Now())
		}
	}
}
