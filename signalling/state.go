package signalling

import (
	"fmt"
	"sync"
)

// State is the stage of a call as one side's Machine sees it.
type State int

// The call states, in order.
const (
	// StateIdle: no offer yet.
	StateIdle State = iota
	// StateOffering: the caller has sent its offer; the callee has not rung.
	StateOffering
	// StateRinging: the callee is ringing. The answer and candidates flow now,
	// so that ICE and DTLS connect before the user accepts.
	StateRinging
	// StateAccepted: the callee accepted; media flows.
	StateAccepted
	// StateRestarting: after accept, the caller has asked to move the media
	// to an IP-exposing mode (a fallback both sides consented to) or to
	// restart ICE; the callee answers or refuses, and candidates flow again.
	StateRestarting
	// StateEnded: busy, reject or hangup was sent or received.
	StateEnded
)

var stateNames = [...]string{"idle", "offering", "ringing", "accepted", "restarting", "ended"}

// String returns the state's lower-case name.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int(s))
	}
	return stateNames[s]
}

// Role is which side of a call a Machine keeps the state of.
type Role int

// The two roles.
const (
	// Caller sends the offer.
	Caller Role = iota
	// Callee receives the offer and rings, answers and accepts or refuses.
	Callee
)

// String returns "caller" or "callee".
func (r Role) String() string {
	switch r {
	case Caller:
		return "caller"
	case Callee:
		return "callee"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// other returns the opposite role.
func (r Role) other() Role {
	if r == Caller {
		return Callee
	}
	return Caller
}

// Ending says how a call ended.
type Ending struct {
	// Type is the message that ended the call: busy, reject or hangup.
	Type Type
	// By is the side that sent it.
	By Role
}

// Machine is the call state machine of one side of one call. It checks each
// message sent and received against the protocol:
//
//   - the caller sends the offer from Idle, then candidates and at most one
//     end-of-candidates, in any state until the call ends;
//   - the callee rings (Offering → Ringing), then answers once; after its
//     answer it may send candidates and one end-of-candidates, and accept
//     (Ringing → Accepted);
//   - after accept the caller may restart ICE (ice-restart, Accepted →
//     Restarting) as often as needed, one at a time; the callee answers
//     (Restarting → Accepted) and candidates flow again;
//   - after accept the callee may ask for a restart (restart-request) as
//     often as needed; it changes nothing;
//   - restart-refused answers a restart this side may not follow and
//     changes nothing, except that a refused ice-restart is over
//     (Restarting → Accepted);
//   - resume and resumed open a new connection for an accepted call and
//     never travel on the call's connection; Resumed records the new
//     connection;
//   - busy and reject come only from the callee, before accept;
//   - hangup comes from either side in any state but Ended;
//   - nothing is allowed after the call ended.
//
// A Machine is safe for concurrent use.
type Machine struct {
	role   Role
	callID string

	mu       sync.Mutex
	state    State
	answered bool
	eoc      [2]bool // end-of-candidates seen, indexed by Role of the sender
	restarts int     // fallback restarts seen; a call may have one
	// iceRestart: the negotiation under way (StateRestarting) is an ICE
	// restart, not a fallback.
	iceRestart bool
	ending     Ending
}

// NewMachine returns the Machine, in StateIdle, of the given side of the
// call callID.
func NewMachine(role Role, callID string) *Machine {
	return &Machine{role: role, callID: callID}
}

// Role returns the side this Machine keeps the state of.
func (m *Machine) Role() Role { return m.role }

// CallID returns the call's ID.
func (m *Machine) CallID() string { return m.callID }

// State returns the current state.
func (m *Machine) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Ended reports how the call ended, and false while it has not.
func (m *Machine) Ended() (Ending, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ending, m.state == StateEnded
}

// Check returns an error wrapping ErrWrongCall if msg belongs to another call.
func (m *Machine) Check(msg Message) error {
	if msg.CallID != m.callID {
		return fmt.Errorf("%w: %s for call %q, this call is %q", ErrWrongCall, msg.Type, msg.CallID, m.callID)
	}
	return nil
}

// Sent records that this side sent a message of type t, or returns an error
// wrapping ErrUnexpected, leaving the state unchanged, if it may not.
func (m *Machine) Sent(t Type) error { return m.step(m.role, "sent", t) }

// Received records that the other side sent a message of type t, or returns
// an error wrapping ErrUnexpected, leaving the state unchanged, if it may not.
func (m *Machine) Received(t Type) error { return m.step(m.role.other(), "received", t) }

func (m *Machine) step(from Role, verb string, t Type) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := m.next(from, t)
	if err != nil {
		return fmt.Errorf("%w: %s %s %q in state %s: %s", ErrUnexpected, m.role, verb, t, m.state, err)
	}
	switch {
	case t == TypeRestart, t == TypeICERestart:
		// A new negotiation: a new answer and new candidates from both.
		if t == TypeRestart {
			m.restarts++
		}
		m.iceRestart = t == TypeICERestart
		m.answered = false
		m.eoc = [2]bool{}
	case t == TypeAnswer:
		m.answered = true
	case t == TypeRestartRefused && m.state == StateRestarting && next == StateAccepted:
		// The refused ICE restart is over; the previous negotiation stands.
		m.answered = true
	case t == TypeEndOfCandidates:
		m.eoc[from] = true
	case next == StateEnded:
		m.ending = Ending{Type: t, By: from}
	}
	m.state = next
	return nil
}

// Established reports whether the call was accepted and has not ended: the
// states in which a broken connection may be replaced (resume).
func (m *Machine) Established() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == StateAccepted || m.state == StateRestarting
}

// Resumed records that the call carries on over a new connection (resume
// and resumed were exchanged on it), or returns an error wrapping
// ErrUnexpected if the call is not established. A negotiation under way
// is over, since its messages may have been lost with the old connection:
// StateRestarting goes back to StateAccepted with the previous answer
// standing, and the next restart starts afresh.
func (m *Machine) Resumed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != StateAccepted && m.state != StateRestarting {
		return fmt.Errorf("%w: %s resumed the call in state %s: only an accepted call resumes", ErrUnexpected, m.role, m.state)
	}
	m.state = StateAccepted
	m.answered = true
	m.iceRestart = false
	return nil
}

// next returns the state after from sends t, or why it may not.
func (m *Machine) next(from Role, t Type) (State, error) {
	s := m.state
	if s == StateEnded {
		return s, errString("the call has ended")
	}
	switch t {
	case TypeHangup:
		return StateEnded, nil
	case TypeOffer:
		if from != Caller {
			return s, errString("only the caller offers")
		}
		if s != StateIdle {
			return s, errString("already offered")
		}
		return StateOffering, nil
	case TypeRinging:
		if from != Callee {
			return s, errString("only the callee rings")
		}
		if s != StateOffering {
			return s, errString("ringing only follows the offer")
		}
		return StateRinging, nil
	case TypeAnswer:
		if from != Callee {
			return s, errString("only the callee answers")
		}
		if s == StateRestarting && !m.answered {
			return StateAccepted, nil
		}
		if s != StateRinging || m.answered {
			return s, errString("the callee answers once, while ringing (or once after a restart)")
		}
		return s, nil
	case TypeRestart:
		if from != Caller {
			return s, errString("only the caller restarts")
		}
		if s != StateAccepted {
			return s, errString("a restart only follows accept")
		}
		if m.restarts > 0 {
			return s, errString("only one restart per call")
		}
		return StateRestarting, nil
	case TypeICERestart:
		if from != Caller {
			return s, errString("only the caller restarts ICE")
		}
		if s != StateAccepted {
			return s, errString("an ICE restart only follows accept, one at a time")
		}
		return StateRestarting, nil
	case TypeRestartRequest:
		if from != Callee {
			return s, errString("only the callee asks for a restart")
		}
		if s != StateAccepted && s != StateRestarting {
			return s, errString("a restart request only follows accept")
		}
		return s, nil
	case TypeRestartRefused:
		if s == StateIdle {
			return s, errString("no offer yet")
		}
		if s == StateRestarting && m.iceRestart && from == Callee {
			return StateAccepted, nil
		}
		return s, nil
	case TypeCandidate, TypeEndOfCandidates:
		if s == StateIdle {
			return s, errString("no offer yet")
		}
		if from == Callee && !m.answered {
			return s, errString("the callee sends candidates only after its answer")
		}
		if m.eoc[from] {
			return s, errString("after end-of-candidates")
		}
		return s, nil
	case TypeAccept:
		if from != Callee {
			return s, errString("only the callee accepts")
		}
		if s != StateRinging || !m.answered {
			return s, errString("accept needs ringing and an answer first")
		}
		return StateAccepted, nil
	case TypeProbe, TypeProbeReply:
		return s, errString("probes are not part of a call")
	case TypeResume, TypeResumed:
		return s, errString("resume and resumed travel only on a new connection")
	case TypeBusy, TypeReject:
		if from != Callee {
			return s, errString("only the callee refuses")
		}
		if s != StateOffering && s != StateRinging && !(s == StateRestarting && t == TypeReject) {
			return s, errString("only before accept, or to refuse a restart")
		}
		return StateEnded, nil
	}
	return s, errString("unknown type")
}

type errString string

func (e errString) Error() string { return string(e) }
