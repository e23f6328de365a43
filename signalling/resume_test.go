package signalling

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// fakeCall is a Resumable that takes every resume, or refuses with refusal.
type fakeCall struct {
	refusal *Refusal
	taken   chan *Incoming
	asked   atomic.Int32
}

func newFakeCall(refusal *Refusal) *fakeCall {
	return &fakeCall{refusal: refusal, taken: make(chan *Incoming, 1)}
}

func (f *fakeCall) Resume(_ context.Context, in *Incoming) *Refusal {
	f.asked.Add(1)
	if f.refusal != nil {
		return f.refusal
	}
	f.taken <- in
	return nil
}

// TestServerResume: a resume reaches the live call only when its ID names a
// call of the very caller the connection's PTR lookup names; from another
// caller, for another call ID, with a spoofed From or while the call rings
// it is refused with a clear reason, and no call hears of it. A resume of a
// call that ended meanwhile gets the call's end.
func TestServerResume(t *testing.T) {
	aliceAddr, err := lokinet.ParseAddress(alice)
	if err != nil {
		t.Fatal(err)
	}
	bobAddr, err := lokinet.ParseAddress(bob)
	if err != nil {
		t.Fatal(err)
	}
	var calls Calls
	live, ringing, bobs, over := newFakeCall(nil), newFakeCall(&Refusal{Type: TypeReject, Reason: ReasonNotResumable}),
		newFakeCall(nil), newFakeCall(nil)
	liveID, ringingID, bobsID, overID := NewCallID(), NewCallID(), NewCallID(), NewCallID()
	calls.Add(liveID, aliceAddr, live)
	calls.Add(ringingID, aliceAddr, ringing)
	calls.Add(bobsID, bobAddr, bobs)
	calls.Add(overID, aliceAddr, over)(Refusal{Type: TypeHangup, Reason: ReasonCompleted})
	// Busy (in a call) must not turn a resume of that call away.
	h := startServer(t, func(s *Server) { s.Calls = &calls; s.Busy = func() bool { return true } })

	resume := func(id, from string) (Message, *Conn) {
		c := h.dial(t)
		m := Message{Version: Version, Type: TypeResume, CallID: id, From: from}
		if err := c.Send(guarded(t), m); err != nil {
			t.Fatal(err)
		}
		return m, c
	}
	for _, c := range []struct {
		name, id, from string
		typ            Type
		reason         string
	}{
		{"a call of another caller", bobsID, alice, TypeReject, ReasonNoSuchCall},
		{"an unknown call ID", NewCallID(), alice, TypeReject, ReasonNoSuchCall},
		{"From naming another caller", liveID, bob, TypeReject, ReasonCallerIDMismatch},
		{"a call that rings", ringingID, alice, TypeReject, ReasonNotResumable},
		{"a call that ended meanwhile", overID, alice, TypeHangup, ReasonCompleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, conn := resume(c.id, c.from)
			expectRefusal(t, conn, m, c.typ, c.reason)
		})
	}
	if n := bobs.asked.Load() + over.asked.Load(); n != 0 {
		t.Errorf("calls that were not the caller's or were over heard of %d resumes", n)
	}
	if n := live.asked.Load(); n != 0 {
		t.Errorf("the live call heard of %d refused resumes", n)
	}
	if n := ringing.asked.Load(); n != 1 {
		t.Errorf("the ringing call was asked %d times, want once (it refuses)", n)
	}

	m, conn := resume(liveID, alice)
	select {
	case in := <-live.taken:
		t.Cleanup(func() { _ = in.Conn.Close() })
		if in.Offer != m || in.Caller != aliceAddr {
			t.Errorf("the call got %+v from %v, want %+v from %v", in.Offer, in.Caller, m, aliceAddr)
		}
		// The handed connection carries the call on.
		if err := in.Conn.Send(guarded(t), Message{Version: Version, Type: TypeResumed, CallID: liveID}); err != nil {
			t.Fatal(err)
		}
		if got, err := conn.Receive(guarded(t)); err != nil || got.Type != TypeResumed {
			t.Fatalf("caller got %+v, %v; want resumed", got, err)
		}
	case <-time.After(guard):
		t.Fatal("the live call was not handed the resume")
	}
	select {
	case in := <-h.incoming:
		t.Errorf("a resume reached Handle as an offer: %+v", in.Offer)
	default:
	}
}

// TestServerResumeWithoutCalls: a server with no register refuses resumes.
func TestServerResumeWithoutCalls(t *testing.T) {
	h := startServer(t, nil)
	c := h.dial(t)
	m := Message{Version: Version, Type: TypeResume, CallID: NewCallID(), From: alice}
	if err := c.Send(guarded(t), m); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, m, TypeReject, ReasonNoSuchCall)
}

// TestMachineResumed: only an established call resumes; a restart under way
// is dropped, and the next one may start.
func TestMachineResumed(t *testing.T) {
	accepted := []step{{Caller, TypeOffer}, {Callee, TypeRinging}, {Callee, TypeAnswer}, {Callee, TypeAccept}}
	for _, role := range []Role{Caller, Callee} {
		m := NewMachine(role, callID)
		if err := apply(m, accepted[:3]); err != nil {
			t.Fatal(err)
		}
		if err := m.Resumed(); !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s: Resumed while ringing = %v, want ErrUnexpected", role, err)
		}
		if m.State() != StateRinging || m.Established() {
			t.Errorf("%s: a refused resume left state %s", role, m.State())
		}
		if err := apply(m, append(accepted[3:], step{Caller, TypeICERestart})); err != nil {
			t.Fatal(err)
		}
		if !m.Established() {
			t.Errorf("%s: not established while restarting", role)
		}
		if err := m.Resumed(); err != nil || m.State() != StateAccepted {
			t.Fatalf("%s: Resumed while restarting = %v, state %s; want accepted", role, err, m.State())
		}
		if err := apply(m, []step{{Caller, TypeICERestart}, {Callee, TypeAnswer}}); err != nil {
			t.Errorf("%s: a new restart after resuming: %v", role, err)
		}
	}
}
