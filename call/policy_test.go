package call

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

func TestPolicies(t *testing.T) {
	friend, stranger := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	isContact := func(a lokinet.Address) bool { return a == friend }
	var asked []lokinet.Address
	yes := func(_ context.Context, a lokinet.Address) (bool, error) { asked = append(asked, a); return true, nil }
	no := func(_ context.Context, a lokinet.Address) (bool, error) { asked = append(asked, a); return false, nil }
	broken := func(context.Context, lokinet.Address) (bool, error) { return true, errors.New("tty gone") }
	cases := []struct {
		name   string
		pc     PolicyConfig
		caller lokinet.Address
		want   Decision
		asked  int
	}{
		{"auto", PolicyConfig{Mode: AcceptAuto}, stranger, Decision{Accept: true}, 0},
		{"never", PolicyConfig{Mode: AcceptNever, Prompt: yes}, friend, Decision{Reason: "declined"}, 0},
		{"ask yes", PolicyConfig{Mode: AcceptAsk, Prompt: yes}, stranger, Decision{Accept: true}, 1},
		{"ask no", PolicyConfig{Mode: AcceptAsk, Prompt: no}, stranger, Decision{Reason: "declined"}, 1},
		{"ask broken", PolicyConfig{Mode: AcceptAsk, Prompt: broken}, stranger, Decision{Reason: "declined"}, 0},
		{"contacts stranger", PolicyConfig{Mode: AcceptContacts, IsContact: isContact, Prompt: yes}, stranger, Decision{Reason: ReasonNotContact}, 0},
		{"contacts friend asked", PolicyConfig{Mode: AcceptContacts, IsContact: isContact, Prompt: no}, friend, Decision{Reason: "declined"}, 1},
		{"contacts friend headless", PolicyConfig{Mode: AcceptContacts, IsContact: isContact}, friend, Decision{Accept: true}, 0},
		{"contacts none", PolicyConfig{Mode: AcceptContacts}, friend, Decision{Reason: ReasonNotContact}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked = nil
			p, err := NewPolicy(tc.pc)
			if err != nil {
				t.Fatal(err)
			}
			if got := p(context.Background(), tc.caller); got != tc.want {
				t.Errorf("decision %+v, want %+v", got, tc.want)
			}
			if len(asked) != tc.asked {
				t.Errorf("asked %d times, want %d", len(asked), tc.asked)
			}
		})
	}
}

func TestPolicyAskEndsWithTheRing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := NewPolicy(PolicyConfig{Mode: AcceptAsk, Prompt: func(ctx context.Context, _ lokinet.Address) (bool, error) {
		cancel()
		<-ctx.Done()
		return false, ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d := p(ctx, lokinettest.RandomAddress()); d.Accept || d.Reason != "timeout" {
		t.Errorf("decision %+v after the ring ended, want timeout", d)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	for _, pc := range []PolicyConfig{{Mode: AcceptAsk}, {Mode: "maybe"}} {
		if _, err := NewPolicy(pc); !errors.Is(err, ErrBadAccept) {
			t.Errorf("NewPolicy(%+v) = %v, want ErrBadAccept", pc, err)
		}
	}
	if _, err := ParseAcceptMode("sometimes"); !errors.Is(err, ErrBadAccept) {
		t.Errorf("ParseAcceptMode: %v", err)
	}
}

func TestIncomingOutcome(t *testing.T) {
	cases := []struct {
		err    error
		reason string
		want   Outcome
	}{
		{nil, "completed", OutcomeAnswered},
		{ErrCallerHungUp, "cancelled", OutcomeMissed},
		{fmt.Errorf("%w: timeout", ErrRejected), "timeout", OutcomeMissed},
		{fmt.Errorf("%w: declined", ErrRejected), "declined", OutcomeRejected},
		{fmt.Errorf("%w: x", ErrMediaFailed), "media-failed", OutcomeFailed},
	}
	for _, tc := range cases {
		if got := IncomingOutcome(tc.err, tc.reason); got != tc.want {
			t.Errorf("IncomingOutcome(%v, %q) = %s, want %s", tc.err, tc.reason, got, tc.want)
		}
	}
}
