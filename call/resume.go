package call

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lokicall/lokicall/signalling"
)

// errSignallingDown: a message could not be sent because the signalling
// connection broke and no new one has been made yet.
var errSignallingDown = errors.New("the signalling connection is down")

// Progress reasons of the signalling connection, in EventProgress events.
const (
	// ProgressSignallingLost: the signalling connection of an established
	// call broke; the call goes on while the caller reconnects.
	ProgressSignallingLost = "signalling-lost"
	// ProgressSignallingResumed: the call carries on over a new signalling
	// connection.
	ProgressSignallingResumed = "signalling-resumed"
)

// restartAnswerTimeout is how long the caller waits for the answer to an
// ice-restart before it takes the signalling connection for dead (a path
// that stopped forwarding without a reset) and replaces it. Several onion
// round trips.
const restartAnswerTimeout = 5 * time.Second

// redialBackoff bounds the caller's waits between attempts to reconnect.
const (
	redialFirst = 250 * time.Millisecond
	redialMax   = 2 * time.Second
)

// resumeAttemptTimeout bounds one attempt to reconnect: dialling, sending
// resume and reading the reply.
const resumeAttemptTimeout = 5 * time.Second

// sigState is the signalling connection's state in callState.
type sigState struct {
	// lostAt is when the connection broke; zero while it works.
	lostAt time.Time
	// limit fires when the call has waited too long for a new connection.
	limit <-chan time.Time
	// answerBy fires restartAnswerTimeout after the caller's latest
	// ice-restart.
	answerBy <-chan time.Time
}

// resumeRequest is a resume the callee's server hands to the call, with
// where to say whether the call took it.
type resumeRequest struct {
	in    *signalling.Incoming
	reply chan *signalling.Refusal
}

// redialResult is a new connection the caller made, with the callee's
// reply to its resume.
type redialResult struct {
	conn  *signalling.Conn
	reply signalling.Message
}

// onSignallingLost: the signalling connection of an established call broke
// (EOF, reset, a dead path). The call goes on while media flows; the caller
// reconnects and resumes, the callee waits for that; after the media timeout
// without a new connection the call ends with connection-lost.
func (s *session) onSignallingLost(err error) {
	l := &s.loop
	if !l.sig.lostAt.IsZero() {
		return
	}
	s.sigDown.Store(true)
	_ = s.signallingConn().Close()
	l.sig.lostAt = time.Now()
	l.sig.answerBy = nil
	limit := s.cfg.mediaTimeout()
	if s.role == signalling.Callee {
		limit += calleeMediaSlack // the caller decides
	}
	l.sig.limit = time.After(limit)
	what := "reconnecting"
	if s.role == signalling.Callee {
		what = "waiting for " + s.peer.String() + " to reconnect"
	}
	s.log.Warn("signalling connection lost; the call goes on", "err", err, "role", s.role)
	s.emit.emit(Event{Kind: EventProgress, CallID: s.callID, Peer: s.peer.String(), Reason: ProgressSignallingLost,
		Message: fmt.Sprintf("signalling connection lost (%v); %s", err, what)})
	if s.role == signalling.Caller {
		go s.redial()
	}
}

// replacedByCaller is the signalling-resumed message of a callee whose
// caller resumed before the callee itself saw the old connection break (a
// reset that had not reached it yet, or a connection gone silent one way).
const replacedByCaller = "the caller replaced the signalling connection"

// onSignallingTimeout: no new connection within the media timeout.
func (s *session) onSignallingTimeout() *ending {
	since := time.Since(s.loop.sig.lostAt).Round(time.Second)
	return &ending{err: fmt.Errorf("%w: not re-established within %v", ErrConnectionLost, since),
		reason: signalling.ReasonConnectionLost}
}

// onRestartUnanswered: the callee has not answered the caller's latest
// ice-restart within restartAnswerTimeout. A connection that silently
// stopped forwarding looks exactly like this; replace it.
func (s *session) onRestartUnanswered() {
	s.loop.sig.answerBy = nil
	if s.role != signalling.Caller || s.machine.State() != signalling.StateRestarting || !s.loop.sig.lostAt.IsZero() {
		return
	}
	s.onSignallingLost(fmt.Errorf("no answer to the restart within %v", restartAnswerTimeout))
}

// redial reconnects to the callee's signalling port until the callee
// answers the resume or the call ends, waiting redialFirst, then twice as
// long each time up to redialMax, between attempts.
func (s *session) redial() {
	var wait time.Duration
	for attempt := 1; ; attempt++ {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.readDone:
				t.Stop()
				return
			}
		}
		wait = min(max(2*wait, redialFirst), redialMax)
		conn, reply, err := s.tryResume(resumeAttemptTimeout)
		if err != nil {
			s.log.Info("reconnecting the signalling connection", "attempt", attempt, "err", err)
			continue
		}
		select {
		case s.redialC <- redialResult{conn: conn, reply: reply}:
		case <-s.readDone:
			_ = conn.Close()
		}
		return
	}
}

// tryResume dials the callee's signalling port from the node's current
// Lokinet address (a restarted daemon may have given it a new one), sends
// resume and reads the callee's reply, all within timeout.
func (s *session) tryResume(timeout time.Duration) (*signalling.Conn, signalling.Message, error) {
	ctx, cancel := context.WithTimeout(s.readCtx, timeout)
	defer cancel()
	to := netip.AddrPortFrom(s.remoteIP(), s.redialTo.Port())
	conn, err := signalling.Dial(ctx, nodeDialer(s.localNode()), to, signalling.ConnOptions{Logger: s.log})
	if err != nil {
		return nil, signalling.Message{}, err
	}
	m := signalling.Message{Version: signalling.Version, Type: signalling.TypeResume, CallID: s.callID,
		From: s.cfg.Node.Address.String()}
	if err := conn.Send(ctx, m); err != nil {
		_ = conn.Close()
		return nil, signalling.Message{}, err
	}
	reply, err := conn.Receive(ctx)
	if err == nil {
		err = s.machine.Check(reply)
	}
	if err == nil && reply.Type != signalling.TypeResumed && reply.Type != signalling.TypeReject && reply.Type != signalling.TypeHangup {
		err = fmt.Errorf("%w: %s in reply to resume", ErrProtocol, reply.Type)
	}
	if err != nil {
		_ = conn.Close()
		return nil, signalling.Message{}, fmt.Errorf("resume over %s: %w", to, err)
	}
	return conn, reply, nil
}

// onRedialled: the caller's new connection got the callee's reply.
func (s *session) onRedialled(r redialResult) *ending {
	switch r.reply.Type {
	case signalling.TypeResumed:
		s.carryOn(r.conn, "")
		return nil
	case signalling.TypeHangup:
		// The callee ended the call while the connection was down.
		_ = r.conn.Close()
		return s.onHangup(r.reply.Reason)
	}
	_ = r.conn.Close()
	return &ending{err: fmt.Errorf("%w: the callee refused to resume the call (%s)", ErrConnectionLost, r.reply.Reason),
		reason: signalling.ReasonConnectionLost}
}

// lastResume bounds the caller's last attempt to reconnect, made to tell
// the callee that the call ended while the connection was down.
const lastResume = 3 * time.Second

// resumeToEnd: the caller ends a call whose signalling connection is down
// and the callee has to be told; a last try to reconnect, for lastResume,
// so that the callee ends with the caller's reason rather than after its
// timeout.
func (s *session) resumeToEnd() {
	if s.role != signalling.Caller || !s.sigDown.Load() || s.readCtx == nil {
		return
	}
	var (
		conn  *signalling.Conn
		reply signalling.Message
		err   error
	)
	for deadline := time.Now().Add(lastResume); ; time.Sleep(redialFirst) {
		left := time.Until(deadline)
		if left <= 0 {
			s.log.Info("could not reconnect to tell the callee the call ended", "err", err)
			return
		}
		if conn, reply, err = s.tryResume(left); err == nil {
			break
		}
	}
	if reply.Type != signalling.TypeResumed || s.machine.Resumed() != nil {
		_ = conn.Close()
		return
	}
	s.switchConn(conn) // its read loop is for closeSignalling to drain
}

// switchConn makes conn the call's signalling connection, closes the old
// one and reads from the new one.
func (s *session) switchConn(conn *signalling.Conn) {
	s.mu.Lock()
	old := s.conn
	s.conn = conn
	s.mu.Unlock()
	_ = old.Close()
	s.sigDown.Store(false)
	s.startReading()
}

// Resume hands the call a new signalling connection from its peer (the
// server checked that it is the peer and the call ID matches); see
// signalling.Resumable. It is safe from any goroutine.
func (s *session) Resume(ctx context.Context, in *signalling.Incoming) *signalling.Refusal {
	notNow := &signalling.Refusal{Type: signalling.TypeReject, Reason: signalling.ReasonNotResumable}
	req := resumeRequest{in: in, reply: make(chan *signalling.Refusal, 1)}
	select {
	case s.resumeC <- req:
	case <-s.readDone:
		return notNow
	case <-ctx.Done():
		return notNow
	}
	return <-req.reply
}

// onResumeRequest: the callee's server hands the call a resume. An
// established call answers resumed and carries on over the new connection,
// whether or not it noticed the old one break; any other is refused.
func (s *session) onResumeRequest(r resumeRequest) {
	if !s.machine.Established() {
		s.log.Warn("refusing a resume of a call not established", "state", s.machine.State())
		r.reply <- &signalling.Refusal{Type: signalling.TypeReject, Reason: signalling.ReasonNotResumable}
		return
	}
	r.reply <- nil
	ctx, cancel := context.WithTimeout(context.Background(), resumeAttemptTimeout)
	err := r.in.Conn.Send(ctx, signalling.Message{Version: signalling.Version, Type: signalling.TypeResumed, CallID: s.callID})
	cancel()
	if err != nil {
		// The caller tries again.
		s.log.Warn("could not answer a resume", "err", err)
		_ = r.in.Conn.Close()
		return
	}
	how := ""
	if s.loop.sig.lostAt.IsZero() {
		how = replacedByCaller
	}
	s.carryOn(r.in.Conn, how)
}

// carryOn makes conn the call's signalling connection after resume and
// resumed were exchanged on it. A restart under way is dropped (its
// messages may have been lost); the caller may restart again at once.
func (s *session) carryOn(conn *signalling.Conn, how string) {
	l := &s.loop
	if err := s.machine.Resumed(); err != nil {
		s.log.Warn("cannot resume", "err", err)
		_ = conn.Close()
		return
	}
	s.mu.Lock()
	pending := s.pending
	s.mu.Unlock()
	if pending != nil {
		s.dropPending(pending)
	}
	lost := time.Duration(0)
	if !l.sig.lostAt.IsZero() {
		lost = time.Since(l.sig.lostAt)
	}
	l.sig = sigState{}
	l.recovery.next = time.Time{}
	s.switchConn(conn)
	msg := fmt.Sprintf("signalling connection re-established after %v", lost.Round(time.Millisecond))
	if how != "" {
		msg = how
	}
	s.log.Info("the call carries on over a new signalling connection", "after", lost.Round(time.Millisecond))
	s.emit.emit(Event{Kind: EventProgress, CallID: s.callID, Peer: s.peer.String(), Reason: ProgressSignallingResumed, Message: msg})
}
