package main

import (
	"context"
	"errors"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/config"
	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/media"
)

// Exit codes, documented in the README. Every error a command returns is
// mapped here and nowhere else.
const (
	exitOK          = 0
	exitFailure     = 1  // anything not listed below
	exitUsage       = 2  // bad arguments or flags
	exitNoLokinet   = 3  // no Lokinet daemon or interface
	exitUnreachable = 4  // the peer could not be reached
	exitRejected    = 5  // the callee declined
	exitBusy        = 6  // the callee is in another call
	exitTimeout     = 7  // nobody answered in time
	exitMediaFailed = 8  // the media path failed
	exitPolicy      = 9  // the privacy policy refused something
	exitProtocol    = 10 // the peer broke the call protocol
	exitLost        = 11 // the peer vanished mid-call
	exitAudio       = 12 // an audio source or sink failed
	exitMissed      = 13 // the caller hung up before the call was accepted
	exitInterrupted = 130
)

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, lokinet.ErrInvalidAddress),
		errors.Is(err, media.ErrBadSpec), errors.Is(err, ice.ErrUnknownMode), errors.Is(err, ice.ErrModeUnavailable),
		errors.Is(err, config.ErrSyntax), errors.Is(err, config.ErrBadContact), errors.Is(err, config.ErrNoContact),
		errors.Is(err, config.ErrLayout), errors.Is(err, call.ErrBadAccept):
		return exitUsage
	case errors.Is(err, call.ErrNoLokinet), errors.Is(err, lokinet.ErrNoDaemon), errors.Is(err, lokinet.ErrNoInterface):
		return exitNoLokinet
	case errors.Is(err, call.ErrUnreachable), errors.Is(err, lokinet.ErrNotFound), errors.Is(err, lokinet.ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, call.ErrRejected):
		return exitRejected
	case errors.Is(err, call.ErrBusy):
		return exitBusy
	case errors.Is(err, call.ErrTimeout):
		return exitTimeout
	case errors.Is(err, call.ErrMediaFailed):
		return exitMediaFailed
	case errors.Is(err, call.ErrPolicy):
		return exitPolicy
	case errors.Is(err, call.ErrProtocol):
		return exitProtocol
	case errors.Is(err, call.ErrConnectionLost):
		return exitLost
	case errors.Is(err, call.ErrCallerHungUp):
		return exitMissed
	case errors.Is(err, media.ErrNoDevice), errors.Is(err, media.ErrBadWAV):
		return exitAudio
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitFailure
	}
}
