package call

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/signalling"
)

// TestBadRestartRefused: a restart (ice-restart or fallback restart) or a
// restart request for another call, before accept, or from the wrong side
// is refused with a restart-refused message naming why; the session does
// not end and its protocol state does not change.
func TestBadRestartRefused(t *testing.T) {
	alice, bob := newPeers(t, "127.77.25.1", "127.77.25.2")
	// A well-formed offer to carry: a real one from another media path.
	offerFrom := func(t *testing.T, s *session) string {
		t.Helper()
		p, err := s.newMediaPath(s.mode)
		if err != nil {
			t.Fatal(err)
		}
		defer p.close()
		desc, err := p.pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return stripCandidates(desc.SDP)
	}
	type step struct {
		from signalling.Role
		t    signalling.Type
	}
	accepted := []step{{signalling.Caller, signalling.TypeOffer}, {signalling.Callee, signalling.TypeRinging},
		{signalling.Callee, signalling.TypeAnswer}, {signalling.Callee, signalling.TypeAccept}}
	ringing := accepted[:3]
	for _, c := range []struct {
		name    string
		role    signalling.Role // the side under test
		history []step
		typ     signalling.Type
		other   bool // for another call ID
		reason  string
	}{
		{"ice-restart for another call", signalling.Callee, accepted, signalling.TypeICERestart, true, signalling.ReasonWrongCall},
		{"ice-restart while ringing", signalling.Callee, ringing, signalling.TypeICERestart, false, signalling.ReasonNotNow},
		{"ice-restart from the callee", signalling.Caller, accepted, signalling.TypeICERestart, false, signalling.ReasonNotNow},
		{"fallback restart for another call", signalling.Callee, accepted, signalling.TypeRestart, true, signalling.ReasonWrongCall},
		{"fallback restart while ringing", signalling.Callee, ringing, signalling.TypeRestart, false, signalling.ReasonNotNow},
		{"fallback restart from the callee", signalling.Caller, accepted, signalling.TypeRestart, false, signalling.ReasonNotNow},
		{"restart request for another call", signalling.Caller, accepted, signalling.TypeRestartRequest, true, signalling.ReasonWrongCall},
		{"restart request while ringing", signalling.Caller, ringing, signalling.TypeRestartRequest, false, signalling.ReasonNotNow},
		{"restart request from the caller", signalling.Callee, accepted, signalling.TypeRestartRequest, false, signalling.ReasonNotNow},
	} {
		t.Run(c.name, func(t *testing.T) {
			near, far := net.Pipe()
			defer far.Close()
			self, other := alice, bob
			if c.role == signalling.Callee {
				self, other = bob, alice
			}
			cfg := self.config("silence", "null", 0)
			callID := signalling.NewCallID()
			s, err := newSession(&cfg, "", c.role, callID, signalling.NewConn(near, signalling.ConnOptions{}),
				other.node.Address, other.node.IP, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer s.closeMedia()
			for _, st := range c.history {
				if st.from == c.role {
					err = s.machine.Sent(st.t)
				} else {
					err = s.machine.Received(st.t)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			before := s.machine.State()
			msg := signalling.Message{Version: signalling.Version, Type: c.typ, CallID: callID}
			if c.typ != signalling.TypeRestartRequest {
				msg.SDP = offerFrom(t, s)
			}
			if c.typ == signalling.TypeRestart {
				msg.Mode = signalling.ModeP2P
			}
			if c.other {
				msg.CallID = signalling.NewCallID()
			}
			peer := signalling.NewConn(far, signalling.ConnOptions{})
			got := make(chan signalling.Message, 1)
			go func() {
				m, err := peer.Receive(context.Background())
				if err == nil {
					got <- m
				}
				close(got)
			}()
			if e := s.onMessage(context.Background(), msg); e != nil {
				t.Fatalf("the call ended (%s: %v); want it to go on", e.reason, e.err)
			}
			select {
			case m, ok := <-got:
				if !ok || m.Type != signalling.TypeRestartRefused || m.Reason != c.reason || m.CallID != callID {
					t.Errorf("answered %+v, want restart-refused %q for this call", m, c.reason)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no refusal sent")
			}
			if st := s.machine.State(); st != before {
				t.Errorf("state %v after the refusal, want %v as before", st, before)
			}
			if p := s.currentPath(); p == nil || p.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
				t.Error("the media path was torn down")
			}
		})
	}
}
