package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// AcceptMode names a callee's policy for incoming calls (--accept).
type AcceptMode string

// The accept modes.
const (
	// AcceptAsk asks a person (Prompt) about every call.
	AcceptAsk AcceptMode = "ask"
	// AcceptContacts lets only contacts ring: they are asked when a Prompt
	// is given and accepted otherwise; anybody else is declined with
	// ReasonNotContact.
	AcceptContacts AcceptMode = "contacts"
	// AcceptAuto accepts every call.
	AcceptAuto AcceptMode = "auto"
	// AcceptNever declines every call.
	AcceptNever AcceptMode = "never"
)

// ReasonNotContact is the reason sent to a caller declined because it is
// not in the callee's contact list.
const ReasonNotContact = signalling.ReasonNotContact

// ErrBadAccept reports an unknown accept mode or one that cannot work, such
// as ask without a way to ask.
var ErrBadAccept = errors.New("bad accept policy")

// ParseAcceptMode checks the name of an accept mode.
func ParseAcceptMode(s string) (AcceptMode, error) {
	switch m := AcceptMode(s); m {
	case AcceptAsk, AcceptContacts, AcceptAuto, AcceptNever:
		return m, nil
	}
	return "", fmt.Errorf("%w %q: want ask, contacts, auto or never", ErrBadAccept, s)
}

// Prompt asks a person whether to answer a call from caller. It returns
// when they decide or when ctx ends (ringing timed out or the caller hung
// up); it must not keep reading input after returning.
type Prompt func(ctx context.Context, caller lokinet.Address) (answer bool, err error)

// PolicyConfig describes an accept policy.
type PolicyConfig struct {
	Mode AcceptMode
	// IsContact reports whether an address is in the contact list; nil
	// means nobody is (AcceptContacts then declines everybody).
	IsContact func(lokinet.Address) bool
	// Prompt asks a person; required for AcceptAsk, optional for
	// AcceptContacts.
	Prompt Prompt
	// Logger receives one info line per declined call; nil discards.
	Logger *slog.Logger
}

// NewPolicy turns a PolicyConfig into a Policy.
func NewPolicy(pc PolicyConfig) (Policy, error) {
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ask := func(ctx context.Context, caller lokinet.Address) Decision {
		ok, err := pc.Prompt(ctx, caller)
		switch {
		case ctx.Err() != nil:
			// The ring ended first; answer() turns this into "timeout"
			// (or the caller is gone and hears nothing).
			return Decision{Reason: signalling.ReasonTimeout}
		case err != nil:
			log.Warn("call: cannot ask about an incoming call; declining", "caller", caller.String(), "err", err)
			return Decision{Reason: signalling.ReasonDeclined}
		case !ok:
			log.Info("call: declined incoming call", "caller", caller.String())
			return Decision{Reason: signalling.ReasonDeclined}
		}
		return Decision{Accept: true}
	}
	switch pc.Mode {
	case AcceptAuto:
		return AcceptAll, nil
	case AcceptNever:
		return func(_ context.Context, caller lokinet.Address) Decision {
			log.Info("call: declined incoming call (--accept never)", "caller", caller.String())
			return Decision{Reason: signalling.ReasonDeclined}
		}, nil
	case AcceptAsk:
		if pc.Prompt == nil {
			return nil, fmt.Errorf("%w: ask needs a terminal to ask on", ErrBadAccept)
		}
		return ask, nil
	case AcceptContacts:
		return func(ctx context.Context, caller lokinet.Address) Decision {
			if pc.IsContact == nil || !pc.IsContact(caller) {
				log.Info("call: rejected incoming call from a caller not in contacts", "caller", caller.String())
				return Decision{Reason: ReasonNotContact}
			}
			if pc.Prompt == nil {
				return Decision{Accept: true}
			}
			return ask(ctx, caller)
		}, nil
	}
	return nil, fmt.Errorf("%w %q: want ask, contacts, auto or never", ErrBadAccept, pc.Mode)
}

// ProbePolicy returns what a listener with the policy pc says to a
// reachability probe from caller, without asking anybody: accept for a
// caller the policy would let ring, else the reason a call from that caller
// would be refused with, so that a probe tells a refused caller nothing a
// call would not.
func ProbePolicy(pc PolicyConfig) func(caller lokinet.Address) Decision {
	return func(caller lokinet.Address) Decision {
		switch pc.Mode {
		case AcceptAsk, AcceptAuto:
			return Decision{Accept: true}
		case AcceptContacts:
			if pc.IsContact != nil && pc.IsContact(caller) {
				return Decision{Accept: true}
			}
			return Decision{Reason: ReasonNotContact}
		}
		return Decision{Reason: signalling.ReasonDeclined}
	}
}

// Outcome says how an incoming call ended, for call logs.
type Outcome string

// The outcomes of an incoming call.
const (
	OutcomeAnswered Outcome = "answered" // accepted; it may still have failed later
	OutcomeMissed   Outcome = "missed"   // nobody answered in time, or the caller gave up
	OutcomeRejected Outcome = "rejected" // declined by the policy or the person
	OutcomeFailed   Outcome = "failed"   // broke before anyone decided
)

// Event kinds a listener emits for its call log.
const (
	EventMissed   EventKind = "missed"   // Peer, Reason
	EventRejected EventKind = "rejected" // Peer, Reason
)

// IncomingOutcome classifies an incoming call from Listen's result for it
// (OnCallEnd's error) and the Reason of its final StateEnded event.
func IncomingOutcome(err error, reason string) Outcome {
	switch {
	case errors.Is(err, ErrCallerHungUp), reason == signalling.ReasonTimeout:
		return OutcomeMissed
	case errors.Is(err, ErrRejected):
		return OutcomeRejected
	case err == nil, reason == signalling.ReasonCompleted:
		return OutcomeAnswered
	}
	return OutcomeFailed
}
