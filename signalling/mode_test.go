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
