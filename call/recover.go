package call

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/signalling"
)

// restartBackoff spaces the caller's ICE restarts within one interruption:
// the first comes after Config.RecoverAfter, the next ones after these
// intervals, the last repeated. 4 s is less than the 5 s pion keeps checking
// a restarted path's pairs (25 checks 200 ms apart, ice.OnionTimers), so a
// path that returns between two restarts is found by the checks of the
// previous one rather than waiting for the next.
var restartBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

// rebuildEvery makes every rebuildEvery-th restart of an interruption a
// rebuild of the whole media path rather than an ICE restart.
const rebuildEvery = 4

// calleeMediaSlack is how much longer than its media timeout a callee waits
// for the caller, which decides, to say the media is lost.
const calleeMediaSlack = 5 * time.Second

// resolved is the result of looking the peer's address up again.
type resolved struct {
	ip  netip.Addr
	err error
}

// recovery is the caller's ICE restart state; part of callState.
type recovery struct {
	// attempts counts the restarts of the current interruption.
	attempts int
	// next is when the next restart may start.
	next time.Time
	// resolving: a lookup of the peer runs; its result comes on
	// session.resolvedC.
	resolving bool
	// rebuild, on the caller: the next restart replaces the media path
	// whole (new endpoint, new DTLS) instead of restarting ICE on it. On
	// the callee: its endpoint is dead (RecoverPath), so it asks the
	// caller for a rebuilt path.
	rebuild bool
}

// whileInterrupted runs on every watch tick of an interruption that has
// lasted silent: the caller restarts ICE, with backoff; past the media
// timeout the call ends.
func (s *session) whileInterrupted(now time.Time, silent time.Duration) *ending {
	limit := s.cfg.mediaTimeout()
	if s.role == signalling.Callee {
		limit += calleeMediaSlack
	}
	if silent > limit {
		return hangUp(fmt.Errorf("%w: no audio from the peer for %v", ErrMediaLost, silent.Round(time.Second)),
			signalling.ReasonMediaLost)
	}
	if s.role == signalling.Caller && silent >= s.cfg.recoverAfter() {
		s.maybeRestart(now)
	}
	return nil
}

// maybeRestart starts an ICE restart when the backoff allows and none is
// under way: first a new lookup of the peer (Lokinet may have mapped it
// anew), then the restart offer (onResolved).
func (s *session) maybeRestart(now time.Time) {
	r := &s.loop.recovery
	if r.resolving || now.Before(r.next) || s.machine.State() != signalling.StateAccepted {
		return
	}
	r.resolving = true
	switch {
	case s.firstAudio.Load() == 0:
		// Nothing ever arrived: this side's DTLS may be done while the
		// peer's is not; only a new handshake helps.
		r.rebuild = true
	case r.attempts%rebuildEvery == rebuildEvery-1:
		// ICE restarts have not helped: the socket itself may be dead
		// (an interface that went away) in a way nobody reported.
		r.rebuild = true
	}
	wait := restartBackoff[min(r.attempts, len(restartBackoff)-1)]
	r.attempts++
	r.next = now.Add(wait)
	s.log.Info("restarting the media path", "attempt", r.attempts, "rebuild", r.rebuild)
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

// onResolved: the lookup of a restart finished; send the restart offer.
func (s *session) onResolved(res resolved) *ending {
	r := &s.loop.recovery
	r.resolving = false
	if s.loop.phase != phaseActive || s.machine.State() != signalling.StateAccepted {
		return nil
	}
	switch {
	case res.err != nil:
		// Lokinet's DNS may be down for a moment (a daemon restart); the
		// restart goes on with the address known so far.
		s.log.Warn("looking up the peer again failed; restarting with its known address", "err", res.err)
	case !s.cfg.Node.Contains(res.ip):
		s.log.Warn("peer resolved outside the Lokinet range; keeping its known address", "ip", res.ip)
	default:
		s.mu.Lock()
		if s.peerIP != res.ip {
			s.log.Info("peer's Lokinet address mapped anew", "was", s.peerIP, "now", res.ip)
			s.peerIP = res.ip
		}
		s.mu.Unlock()
	}
	if err := s.sendRestart(r.rebuild); err != nil {
		if r.rebuild {
			return localError(err)
		}
		s.log.Warn("ICE restart failed", "err", err)
		return nil
	}
	r.rebuild = false
	return nil
}

// sendRestart sends an ice-restart offer: new ICE credentials on the current
// media path, or, with rebuild, a new media path (new endpoint and DTLS).
func (s *session) sendRestart(rebuild bool) error {
	var p *mediaPath
	if rebuild {
		var err error
		if p, err = s.replacePath(s.mode); err != nil {
			return fmt.Errorf("rebuild media path: %w", err)
		}
		s.waitFor(p)
	} else {
		p = s.currentPath()
	}
	p.holdLocal()
	p.holdRemote()
	sdp, err := s.localDescription(webrtc.SDPTypeOffer, !rebuild)
	if err != nil {
		return fmt.Errorf("ice restart offer: %w", err)
	}
	if err := s.send(signalling.Message{Type: signalling.TypeICERestart, SDP: sdp, Mode: string(s.mode), Ptime: s.ptime()}); err != nil {
		return err
	}
	s.quality.addRecovery()
	return s.localDescriptionSent()
}

// onICERestart: the callee follows the caller's ICE restart. An offer with
// another DTLS fingerprint comes from a rebuilt caller endpoint: the callee
// rebuilds its media path too.
func (s *session) onICERestart(m signalling.Message) *ending {
	if mode := ice.Mode(m.Mode); mode != s.mode && !(mode == "" && s.mode == ice.ModeOnion) {
		// A change of mode is a fallback, with its own consent checks.
		return s.refuseRestart(m, signalling.ReasonRestartFailed,
			fmt.Errorf("%w: ice-restart to %q mode in a %s call", ErrProtocol, m.Mode, s.mode))
	}
	p := s.currentPath()
	rebuild := false
	rd := p.pc.RemoteDescription()
	sameDTLS := rd != nil && fingerprint(rd.SDP) == fingerprint(m.SDP)
	if sameDTLS && s.loop.recovery.rebuild {
		// This side's endpoint is gone (RecoverPath): an ICE restart on it
		// cannot work; ask for a rebuilt one.
		return s.refuseRestart(m, signalling.ReasonRebuildNeeded, errors.New("this side's media endpoint must be rebuilt"))
	}
	s.quality.addRecovery()
	if rd != nil && !sameDTLS {
		s.loop.recovery.rebuild = false
		rebuild = true
		np, err := s.replacePath(s.mode)
		if err != nil {
			return localError(fmt.Errorf("rebuild media path: %w", err))
		}
		p = np
		s.waitFor(p)
	}
	s.log.Info("the caller restarts the media path", "rebuild", rebuild)
	p.holdLocal()
	p.holdRemote()
	if err := s.applyRemoteDescription(webrtc.SDPTypeOffer, m.SDP); err != nil {
		return s.refuseRestart(m, signalling.ReasonRestartFailed, err)
	}
	if err := s.sendAnswer(); err != nil {
		return localError(err)
	}
	return nil
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

// onRestartRefused: the peer would not follow a restart. The call goes on;
// the caller tries again after the backoff, from a rebuilt endpoint if the
// peer asks for one.
func (s *session) onRestartRefused(m signalling.Message) {
	s.log.Warn("the peer refused a restart", "reason", m.Reason)
	if m.Reason == signalling.ReasonRebuildNeeded && s.role == signalling.Caller {
		r := &s.loop.recovery
		r.rebuild, r.next = true, time.Time{}
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
	r.attempts, r.next, r.rebuild = 0, time.Time{}, false
}

// RecoverPath asks the call to rebuild its media path whole: a new endpoint
// (socket) and DTLS session, for when the old socket is dead (the Lokinet
// interface went away and came back). It is safe from any goroutine. The
// caller sends an ice-restart from a new endpoint at once; the callee
// answers the caller's next ICE restart with restart-refused
// (rebuild-needed), and the caller then rebuilds.
func (s *session) RecoverPath() {
	select {
	case s.rebuildC <- struct{}{}:
	default:
	}
}

// onRebuild: RecoverPath was called.
func (s *session) onRebuild() *ending {
	r := &s.loop.recovery
	if s.role == signalling.Callee {
		r.rebuild = true
		return nil
	}
	if s.loop.phase != phaseActive {
		return nil
	}
	r.rebuild = true
	r.next = time.Time{}
	s.maybeRestart(time.Now())
	return nil
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

// fingerprint returns an SDP's DTLS fingerprint line(s).
func fingerprint(sdp string) string {
	var fp []string
	for _, line := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(line, "a=fingerprint:") {
			fp = append(fp, strings.TrimSpace(line))
		}
	}
	return strings.Join(fp, "\n")
}
