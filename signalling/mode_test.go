package signalling

import (
	"errors"
	"testing"
)

// TestModesAndAddressCandidates covers what the p2p and relay modes add: a
// mode on offers and answers, and candidates that carry an IP address.
func TestModesAndAddressCandidates(t *testing.T) {
	id := NewCallID()
	addrCand := func(mut func(*Candidate)) *Candidate {
		c := &Candidate{Foundation: "1", Component: 1, Protocol: "udp", Priority: 100, Address: "198.51.100.7", Port: 4000, Type: "srflx"}
		if mut != nil {
			mut(c)
		}
		return c
	}
	good := []Message{
		{Version: Version, Type: TypeOffer, CallID: id, SDP: "v=0\r\n", Mode: ModeP2P},
		{Version: Version, Type: TypeAnswer, CallID: id, SDP: "v=0\r\n", Mode: ModeRelay},
		{Version: Version, Type: TypeOffer, CallID: id, SDP: "v=0\r\n", Mode: ModeOnion},
		{Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(nil)},
		{Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Protocol = "tcp"; c.Type = "relay" })},
		{Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Address = "2001:db8::1"; c.Type = "host" })},
	}
	for i, m := range good {
		b, err := Encode(m)
		if err != nil {
			t.Errorf("good %d: encode: %v", i, err)
			continue
		}
		got, err := Decode(b)
		if err != nil {
			t.Errorf("good %d: decode: %v", i, err)
			continue
		}
		if got.Mode != m.Mode || (m.Candidate != nil && *got.Candidate != *m.Candidate) {
			t.Errorf("good %d: round trip changed %+v into %+v", i, m, got)
		}
	}
	bad := map[string]Message{
		"unknown mode":     {Version: Version, Type: TypeOffer, CallID: id, SDP: "v=0\r\n", Mode: "direct"},
		"mode on ringing":  {Version: Version, Type: TypeRinging, CallID: id, Mode: ModeP2P},
		"name and address": {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Name = "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki" })},
		"neither":          {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Address = "" })},
		"hostname address": {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Address = "stun.example.com" })},
		"zoned address":    {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Address = "fe80::1%eth0" })},
		"non-canonical":    {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Address = "2001:DB8::1" })},
		"bad type":         {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Type = "mdns" })},
		"sctp":             {Version: Version, Type: TypeCandidate, CallID: id, Candidate: addrCand(func(c *Candidate) { c.Protocol = "sctp" })},
		"named srflx":      {Version: Version, Type: TypeCandidate, CallID: id, Candidate: &Candidate{Foundation: "1", Component: 1, Protocol: "udp", Priority: 1, Name: "55fxd8stjrj5ey4efn9xm3syffsgbq6jzmg6wtidd4cg4dqkuy4o.loki", Port: 1, Type: "srflx"}},
	}
	for name, m := range bad {
		if _, err := Encode(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: encode err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestRestartTransitions: a restart follows accept only, comes from the
// caller, needs a new answer, and may be refused with reject.
func TestRestartTransitions(t *testing.T) {
	run := func(steps ...struct {
		from Role
		t    Type
	}) (*Machine, error) {
		m := NewMachine(Caller, NewCallID())
		for _, st := range steps {
			var err error
			if st.from == Caller {
				err = m.Sent(st.t)
			} else {
				err = m.Received(st.t)
			}
			if err != nil {
				return m, err
			}
		}
		return m, nil
	}
	type step = struct {
		from Role
		t    Type
	}
	base := []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeAnswer}, {Callee, TypeAccept}}
	if m, err := run(append(base, step{Caller, TypeRestart}, step{Caller, TypeCandidate}, step{Callee, TypeAnswer}, step{Callee, TypeCandidate})...); err != nil || m.State() != StateAccepted {
		t.Errorf("restart, answer: state %v, err %v", m.State(), err)
	}
	if _, err := run(append(base, step{Caller, TypeRestart}, step{Callee, TypeAnswer}, step{Caller, TypeRestart})...); !errors.Is(err, ErrUnexpected) {
		t.Errorf("second restart: err = %v, want ErrUnexpected", err)
	}
	if m, err := run(append(base, step{Caller, TypeRestart}, step{Callee, TypeReject})...); err != nil || m.State() != StateEnded {
		t.Errorf("restart refused: state %v, err %v", m.State(), err)
	}
	bad := [][]step{
		{{Caller, TypeOffer}, {Callee, TypeRinging}, {Caller, TypeRestart}},                       // before accept
		append(append([]step{}, base...), step{Callee, TypeRestart}),                              // from the callee
		append(append([]step{}, base...), step{Caller, TypeRestart}, step{Callee, TypeCandidate}), // callee candidate before its new answer
		append(append([]step{}, base...), step{Callee, TypeReject}),                               // reject after accept without restart
	}
	for i, steps := range bad {
		if _, err := run(steps...); !errors.Is(err, ErrUnexpected) {
			t.Errorf("bad sequence %d: err = %v, want ErrUnexpected", i, err)
		}
	}
	if _, err := Encode(Message{Version: Version, Type: TypeRestart, CallID: NewCallID(), SDP: "v=0\r\n"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("restart without a mode: %v, want ErrMalformed", err)
	}
}

// TestICERestartTransitions: an ICE restart follows accept only, comes from
// the caller only, one at a time, as often as needed; the callee answers it
// and candidates flow again; a refusal changes nothing but ends a refused
// ICE restart.
func TestICERestartTransitions(t *testing.T) {
	type step = struct {
		from Role
		t    Type
	}
	// run plays steps on the caller's Machine and the callee's, which must
	// agree.
	run := func(steps ...step) (*Machine, error) {
		caller, callee := NewMachine(Caller, callID), NewMachine(Callee, callID)
		for _, st := range steps {
			var errs [2]error
			if st.from == Caller {
				errs = [2]error{caller.Sent(st.t), callee.Received(st.t)}
			} else {
				errs = [2]error{caller.Received(st.t), callee.Sent(st.t)}
			}
			if (errs[0] == nil) != (errs[1] == nil) {
				t.Fatalf("%v %s: caller says %v, callee %v", st.from, st.t, errs[0], errs[1])
			}
			if errs[0] != nil {
				return caller, errs[0]
			}
			if caller.State() != callee.State() {
				t.Fatalf("after %v %s: caller in %v, callee in %v", st.from, st.t, caller.State(), callee.State())
			}
		}
		return caller, nil
	}
	base := []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeAnswer}, {Callee, TypeAccept}}
	with := func(more ...step) []step { return append(append([]step{}, base...), more...) }
	good := []struct {
		name  string
		steps []step
		want  State
	}{
		{"restart and answer", with(step{Caller, TypeICERestart}, step{Caller, TypeCandidate}, step{Callee, TypeAnswer},
			step{Callee, TypeCandidate}, step{Callee, TypeEndOfCandidates}), StateAccepted},
		{"restart twice", with(step{Caller, TypeICERestart}, step{Callee, TypeAnswer}, step{Caller, TypeICERestart},
			step{Callee, TypeAnswer}, step{Caller, TypeICERestart}), StateRestarting},
		{"restart refused", with(step{Caller, TypeICERestart}, step{Callee, TypeRestartRefused}, step{Callee, TypeCandidate},
			step{Caller, TypeICERestart}), StateRestarting},
		{"refusal while ringing", []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeRestartRefused}}, StateRinging},
		{"caller refuses", with(step{Caller, TypeRestartRefused}), StateAccepted},
		{"ice restart after a fallback", with(step{Caller, TypeRestart}, step{Callee, TypeAnswer}, step{Caller, TypeICERestart}), StateRestarting},
		{"hang up while restarting", with(step{Caller, TypeICERestart}, step{Callee, TypeHangup}), StateEnded},
		{"callee asks for a restart", with(step{Callee, TypeRestartRequest}, step{Caller, TypeICERestart}, step{Callee, TypeRestartRequest},
			step{Callee, TypeAnswer}), StateAccepted},
	}
	for _, c := range good {
		if m, err := run(c.steps...); err != nil || m.State() != c.want {
			t.Errorf("%s: state %v, err %v; want %v", c.name, m.State(), err, c.want)
		}
	}
	bad := []struct {
		name  string
		steps []step
	}{
		{"while ringing", []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Caller, TypeICERestart}}},
		{"before the answer", []step{{Caller, TypeOffer}, {Caller, TypeICERestart}}},
		{"from the callee", with(step{Callee, TypeICERestart})},
		{"two at once", with(step{Caller, TypeICERestart}, step{Caller, TypeICERestart})},
		{"callee candidate before its answer", with(step{Caller, TypeICERestart}, step{Callee, TypeCandidate})},
		{"before the offer", []step{{Callee, TypeRestartRefused}}},
		{"after the end", with(step{Caller, TypeHangup}, step{Caller, TypeICERestart})},
		{"restart request from the caller", with(step{Caller, TypeRestartRequest})},
		{"restart request while ringing", []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeRestartRequest}}},
		{"probe in a call", with(step{Caller, TypeProbe})},
		{"probe reply in a call", []step{{Caller, TypeOffer}, {Callee, TypeProbeReply}}},
	}
	for _, c := range bad {
		m, err := run(c.steps...)
		if !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s: err = %v, want ErrUnexpected", c.name, err)
		}
		_ = m
	}
	// A refused message leaves the state as it was.
	m := NewMachine(Callee, callID)
	for _, typ := range []Type{TypeOffer, TypeRinging} {
		var err error
		if typ == TypeOffer {
			err = m.Received(typ)
		} else {
			err = m.Sent(typ)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Received(TypeICERestart); !errors.Is(err, ErrUnexpected) || m.State() != StateRinging {
		t.Errorf("ice-restart while ringing: err %v, state %v; want ErrUnexpected and ringing", err, m.State())
	}
	other := Message{Version: Version, Type: TypeICERestart, CallID: NewCallID(), SDP: testSDP}
	if err := m.Check(other); !errors.Is(err, ErrWrongCall) {
		t.Errorf("ice-restart for another call: %v, want ErrWrongCall", err)
	}
	for name, msg := range map[string]Message{
		"ice-restart without sdp":     {Version: Version, Type: TypeICERestart, CallID: callID},
		"ice-restart with a reason":   {Version: Version, Type: TypeICERestart, CallID: callID, SDP: testSDP, Reason: "x"},
		"ice-restart with candidates": {Version: Version, Type: TypeICERestart, CallID: callID, SDP: testSDP + "a=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\n"},
		"refusal with sdp":            {Version: Version, Type: TypeRestartRefused, CallID: callID, SDP: testSDP},
		"refusal with a bad reason":   {Version: Version, Type: TypeRestartRefused, CallID: callID, Reason: "tab\there"},
	} {
		if _, err := Encode(msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
