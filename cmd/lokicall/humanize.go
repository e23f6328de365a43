package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/signalling"
)

// humanError gives an error a sentence for people while keeping what it
// wraps for the exit code.
type humanError struct {
	msg string
	err error
}

func (e humanError) Error() string { return e.msg }
func (e humanError) Unwrap() error { return e.err }

// callEnd is what the command knows about a call that ended.
type callEnd struct {
	peer     string        // as shown to people
	err      error         // what Dial or Listen returned for it
	reason   string        // the final event's reason
	rang     time.Duration // how long it rang (0 if it never did)
	talked   time.Duration // how long audio flowed (0 if it never did)
	userHung bool          // the person pressed q
	by       string        // the ended event's By: who ended the call
}

func seconds(d time.Duration) string { return d.Round(time.Second).String() }

// callerSentence describes the end of an outgoing call. For a failed call it
// returns the error to report, whose text is the sentence.
func callerSentence(e callEnd) (string, error) {
	p := e.peer
	if e.err == nil {
		return answeredSentence(e), nil
	}
	var msg string
	switch {
	case errors.Is(e.err, call.ErrBusy):
		msg = p + " is busy"
	case errors.Is(e.err, call.ErrTimeout) && e.reason == signalling.ReasonTimeout:
		if e.rang > 0 {
			msg = fmt.Sprintf("no answer from %s after %s", p, seconds(e.rang))
		} else {
			msg = "no answer from " + p
		}
	case errors.Is(e.err, call.ErrRejected):
		switch e.reason {
		case signalling.ReasonDeclined:
			msg = p + " declined the call"
		case call.ReasonNotContact:
			msg = p + " takes calls only from contacts, and you are not one"
		case signalling.ReasonUnknownCaller:
			msg = p + " could not tell who is calling (no reverse lookup of your address) and refused the call"
		case signalling.ReasonCallerIDMismatch:
			msg = p + " refused the call: the caller ID did not match the connection"
		case signalling.ReasonModeRefused:
			msg = p + " refuses calls in this connectivity mode"
		default:
			msg = fmt.Sprintf("%s rejected the call (%s)", p, e.reason)
		}
	case errors.Is(e.err, context.Canceled):
		if e.userHung || e.talked == 0 {
			msg = "you hung up before " + p + " answered"
		} else {
			msg = "interrupted"
		}
	case errors.Is(e.err, call.ErrConnectionLost):
		msg = "lost the connection to " + p
	case errors.Is(e.err, call.ErrMediaLost):
		msg = mediaLostSentence(e)
	default:
		return "", e.err
	}
	return msg, humanError{msg: msg, err: e.err}
}

// calleeSentence describes the end of an incoming call, and says whether it
// goes in the call log as missed or rejected.
func calleeSentence(e callEnd) (string, call.Outcome) {
	p := e.peer
	out := call.IncomingOutcome(e.err, e.reason)
	switch out {
	case call.OutcomeMissed:
		if errors.Is(e.err, call.ErrCallerHungUp) {
			return fmt.Sprintf("missed call from %s: the caller hung up after %s of ringing", p, seconds(e.rang)), out
		}
		return fmt.Sprintf("missed call from %s: no answer after %s", p, seconds(e.rang)), out
	case call.OutcomeRejected:
		switch e.reason {
		case call.ReasonNotContact:
			return fmt.Sprintf("rejected call from %s: not in contacts", p), out
		case signalling.ReasonDeclined:
			return "declined call from " + p, out
		default:
			return fmt.Sprintf("rejected call from %s (%s)", p, e.reason), out
		}
	case call.OutcomeAnswered:
		if e.err == nil {
			return answeredSentence(e), out
		}
	}
	if errors.Is(e.err, call.ErrConnectionLost) {
		return "lost the connection to " + p, out
	}
	if errors.Is(e.err, call.ErrMediaLost) {
		return mediaLostSentence(e), out
	}
	return fmt.Sprintf("call from %s failed: %v", p, e.err), out
}

// answeredSentence describes the end of a call that was answered and ended
// normally, saying who ended it.
func answeredSentence(e callEnd) string {
	switch {
	case e.userHung:
		return fmt.Sprintf("you hung up; the call with %s lasted %s", e.peer, clock(e.talked))
	case e.by == call.EndedByPeer:
		return fmt.Sprintf("%s hung up; the call lasted %s", e.peer, clock(e.talked))
	}
	return fmt.Sprintf("call with %s ended after %s", e.peer, clock(e.talked))
}

// mediaLostSentence describes a call whose audio did not come back.
func mediaLostSentence(e callEnd) string {
	if errors.Is(e.err, call.ErrLokinetRestarted) {
		return fmt.Sprintf("Lokinet restarted and the audio with %s did not come back; the call ended after %s", e.peer, clock(e.talked))
	}
	return fmt.Sprintf("the audio with %s stopped and did not come back; the call ended after %s", e.peer, clock(e.talked))
}
