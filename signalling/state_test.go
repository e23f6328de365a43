package signalling

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// step is one message in a call, named by the side that sends it.
type step struct {
	from Role
	t    Type
}

// apply feeds steps to m as that side's Machine sees them.
func apply(m *Machine, steps []step) error {
	for _, s := range steps {
		var err error
		if s.from == m.Role() {
			err = m.Sent(s.t)
		} else {
			err = m.Received(s.t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// TestMachineTransitions tries every message type, from both sides, in
// every state, on both sides' machines, against the table of what is allowed.
func TestMachineTransitions(t *testing.T) {
	var (
		offer   = step{Caller, TypeOffer}
		ringing = step{Callee, TypeRinging}
		answer  = step{Callee, TypeAnswer}
		accept  = step{Callee, TypeAccept}
	)
	// Each starting point: how to reach it, and its state.
	starts := []struct {
		name  string
		path  []step
		state State
	}{
		{"idle", nil, StateIdle},
		{"offering", []step{offer}, StateOffering},
		{"ringing", []step{offer, ringing}, StateRinging},
		{"ringing+answered", []step{offer, ringing, answer}, StateRinging},
		{"accepted", []step{offer, ringing, answer, accept}, StateAccepted},
		{"ended", []step{offer, {Caller, TypeHangup}}, StateEnded},
	}
	// allowed[start][sender] maps each allowed type to the state after it;
	// everything else must fail with ErrUnexpected.
	type next = map[Type]State
	allowed := map[string]map[Role]next{
		"idle": {
			Caller: {TypeOffer: StateOffering, TypeHangup: StateEnded},
			Callee: {TypeHangup: StateEnded},
		},
		"offering": {
			Caller: {TypeCandidate: StateOffering, TypeEndOfCandidates: StateOffering, TypeHangup: StateEnded},
			Callee: {TypeRinging: StateRinging, TypeBusy: StateEnded, TypeReject: StateEnded, TypeHangup: StateEnded},
		},
		"ringing": {
			Caller: {TypeCandidate: StateRinging, TypeEndOfCandidates: StateRinging, TypeHangup: StateEnded},
			Callee: {TypeAnswer: StateRinging, TypeBusy: StateEnded, TypeReject: StateEnded, TypeHangup: StateEnded},
		},
		"ringing+answered": {
			Caller: {TypeCandidate: StateRinging, TypeEndOfCandidates: StateRinging, TypeHangup: StateEnded},
			Callee: {
				TypeCandidate: StateRinging, TypeEndOfCandidates: StateRinging, TypeAccept: StateAccepted,
				TypeBusy: StateEnded, TypeReject: StateEnded, TypeHangup: StateEnded,
			},
		},
		"accepted": {
			Caller: {TypeCandidate: StateAccepted, TypeEndOfCandidates: StateAccepted, TypeHangup: StateEnded},
			Callee: {TypeCandidate: StateAccepted, TypeEndOfCandidates: StateAccepted, TypeHangup: StateEnded},
		},
		"ended": {Caller: {}, Callee: {}},
	}
	types := []Type{
		TypeOffer, TypeRinging, TypeAnswer, TypeCandidate, TypeEndOfCandidates,
		TypeAccept, TypeBusy, TypeReject, TypeHangup, TypeResume, TypeResumed, Type("bogus"),
	}
	for _, start := range starts {
		for _, role := range []Role{Caller, Callee} {
			for _, sender := range []Role{Caller, Callee} {
				dir := "sent"
				if sender != role {
					dir = "received"
				}
				for _, typ := range types {
					name := fmt.Sprintf("%s/%s/%s/%s", start.name, role, dir, typ)
					t.Run(name, func(t *testing.T) {
						m := NewMachine(role, callID)
						if err := apply(m, start.path); err != nil {
							t.Fatalf("setting up: %v", err)
						}
						if m.State() != start.state {
							t.Fatalf("setup reached %s, want %s", m.State(), start.state)
						}
						err := apply(m, []step{{sender, typ}})
						want, ok := allowed[start.name][sender][typ]
						if !ok {
							if !errors.Is(err, ErrUnexpected) {
								t.Fatalf("error = %v, want ErrUnexpected", err)
							}
							if !strings.Contains(err.Error(), start.state.String()) || !strings.Contains(err.Error(), string(typ)) {
								t.Errorf("error %q names neither state nor type", err)
							}
							if m.State() != start.state {
								t.Errorf("refused message moved the state to %s", m.State())
							}
							return
						}
						if err != nil {
							t.Fatalf("error = %v, want allowed", err)
						}
						if m.State() != want {
							t.Errorf("state = %s, want %s", m.State(), want)
						}
						end, ended := m.Ended()
						if ended != (want == StateEnded) {
							t.Errorf("Ended() ok = %v in state %s", ended, m.State())
						}
						if ended && (end.Type != typ || end.By != sender) {
							t.Errorf("Ended() = %+v, want {%s %s}", end, typ, sender)
						}
					})
				}
			}
		}
	}
}

func TestMachineOnceOnly(t *testing.T) {
	base := []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeAnswer}}
	for _, c := range []struct {
		name string
		more []step
	}{
		{"second answer", []step{{Callee, TypeAnswer}}},
		{"caller candidate after its end-of-candidates", []step{{Caller, TypeEndOfCandidates}, {Caller, TypeCandidate}}},
		{"second caller end-of-candidates", []step{{Caller, TypeEndOfCandidates}, {Caller, TypeEndOfCandidates}}},
		{"callee candidate after its end-of-candidates", []step{{Callee, TypeEndOfCandidates}, {Callee, TypeCandidate}}},
		{"second accept", []step{{Callee, TypeAccept}, {Callee, TypeAccept}}},
		{"reject after accept", []step{{Callee, TypeAccept}, {Callee, TypeReject}}},
		{"hangup after hangup", []step{{Callee, TypeHangup}, {Caller, TypeHangup}}},
	} {
		for _, role := range []Role{Caller, Callee} {
			m := NewMachine(role, callID)
			steps := append(append([]step(nil), base...), c.more...)
			if err := apply(m, steps); !errors.Is(err, ErrUnexpected) {
				t.Errorf("%s (%s): %v, want ErrUnexpected", c.name, role, err)
			}
		}
	}
	// One side's end-of-candidates does not stop the other's candidates.
	m := NewMachine(Caller, callID)
	if err := apply(m, append(base, step{Caller, TypeEndOfCandidates}, step{Callee, TypeCandidate})); err != nil {
		t.Errorf("callee candidate after caller's end-of-candidates: %v", err)
	}
}

func TestMachineCheck(t *testing.T) {
	m := NewMachine(Callee, callID)
	if err := m.Check(fixtures()[TypeOffer]); err != nil {
		t.Errorf("Check(same call) = %v", err)
	}
	other := fixtures()[TypeOffer]
	other.CallID = NewCallID()
	if err := m.Check(other); !errors.Is(err, ErrWrongCall) {
		t.Errorf("Check(other call) = %v, want ErrWrongCall", err)
	}
}

func TestStateAndRoleStrings(t *testing.T) {
	for s, want := range map[State]string{StateIdle: "idle", StateOffering: "offering", StateRinging: "ringing", StateAccepted: "accepted", StateEnded: "ended", State(9): "state(9)"} {
		if s.String() != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), s, want)
		}
	}
	if Caller.String() != "caller" || Callee.String() != "callee" || Role(5).String() != "role(5)" {
		t.Errorf("Role strings: %s %s %s", Caller, Callee, Role(5))
	}
}
