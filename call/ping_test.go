package call

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/signalling"
)

// TestPingContactsMode: a listener in contacts mode answers a contact's
// probes without ringing, and refuses a stranger's exactly as it refuses
// the stranger's call (reject, not-a-contact), with nothing measured.
func TestPingContactsMode(t *testing.T) {
	alice, bob := newPeers(t, "127.77.61.1", "127.77.61.2")
	for _, c := range []struct {
		name    string
		contact bool
		port    uint16
	}{
		{"contact", true, 17861},
		{"stranger", false, 17862},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			pc := PolicyConfig{Mode: AcceptContacts, IsContact: func(a lokinet.Address) bool {
				return c.contact && a == alice.node.Address
			}}
			policy, err := NewPolicy(pc)
			if err != nil {
				t.Fatal(err)
			}
			bob.mu.Lock()
			bob.evs = nil
			bob.mu.Unlock()
			lctx, stop := context.WithCancel(ctx)
			done := listen(t, lctx, bob, ListenConfig{Config: bob.config("silence", "null", 0), Port: c.port,
				Accept: policy, Probe: ProbePolicy(pc), MaxCalls: 1})
			defer func() { stop(); <-done }()

			replies := 0
			res, err := Ping(ctx, PingConfig{Node: alice.node, Resolver: alice.res, Count: 3, Interval: 50 * time.Millisecond,
				OnReply: func(int, time.Duration) { replies++ }}, bob.target(c.port))
			if res == nil || res.Peer != bob.node.Address || res.Resolve <= 0 {
				t.Fatalf("Ping = %+v, %v; want bob's address and a resolve time", res, err)
			}
			if c.contact {
				if err != nil {
					t.Fatalf("Ping from a contact: %v", err)
				}
				least, median, most := res.RTTRange()
				if res.Sent != 3 || len(res.RTTs) != 3 || replies != 3 || least <= 0 || median < least || most < median {
					t.Errorf("Ping = %+v (rtt %v/%v/%v, %d replies heard), want 3 probes answered", res, least, median, most, replies)
				}
			} else {
				if !errors.Is(err, ErrRejected) || res.Reason != signalling.ReasonNotContact || len(res.RTTs) != 0 {
					t.Fatalf("Ping from a stranger = %+v, %v; want rejected, not-a-contact, nothing measured", res, err)
				}
				// A call from the same stranger learns the same.
				_, err := Dial(ctx, alice.config("silence", "null", 0), bob.target(c.port))
				if !errors.Is(err, ErrRejected) || !alice.has(EventState, func(ev Event) bool {
					return ev.State == StateEnded && ev.Reason == signalling.ReasonNotContact
				}) {
					t.Errorf("the stranger's call: %v; want it rejected with not-a-contact", err)
				}
			}
			if !bob.has(EventProbe, func(ev Event) bool { return ev.Peer == alice.node.Address.String() }) {
				t.Error("the listener reported no probe")
			}
			if c.contact && bob.has(EventCaller, nil) {
				t.Error("a probe rang the listener")
			}
		})
	}
}

func TestProbePolicy(t *testing.T) {
	friend, stranger := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	isContact := func(a lokinet.Address) bool { return a == friend }
	for _, c := range []struct {
		mode   AcceptMode
		caller lokinet.Address
		want   Decision
	}{
		{AcceptContacts, friend, Decision{Accept: true}},
		{AcceptContacts, stranger, Decision{Reason: ReasonNotContact}},
		{AcceptAsk, stranger, Decision{Accept: true}},
		{AcceptAuto, stranger, Decision{Accept: true}},
		{AcceptNever, friend, Decision{Reason: signalling.ReasonDeclined}},
	} {
		if got := ProbePolicy(PolicyConfig{Mode: c.mode, IsContact: isContact})(c.caller); got != c.want {
			t.Errorf("%s, caller %v: %+v, want %+v", c.mode, c.caller == friend, got, c.want)
		}
	}
}
