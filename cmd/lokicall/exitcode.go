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
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	// What happened to the call comes first: a peer's bad input may wrap a
	// parser's error that would otherwise read as a usage error.
	for _, m := range []struct {
		sentinel error
		code     int
	}{
		{call.ErrNoLokinet, exitNoLokinet},
		{call.ErrUnreachable, exitUnreachable},
		{call.ErrRejected, exitRejected},
		{call.ErrBusy, exitBusy},
		{call.ErrTimeout, exitTimeout},
		{call.ErrAudio, exitAudio},
		{call.ErrMediaFailed, exitMediaFailed},
		{call.ErrPolicy, exitPolicy},
		{call.ErrProtocol, exitProtocol},
		{call.ErrConnectionLost, exitLost},
		{call.ErrCallerHungUp, exitMissed},
		{lokinet.ErrNoDaemon, exitNoLokinet},
		{lokinet.ErrNoInterface, exitNoLokinet},
		{lokinet.ErrNotFound, exitUnreachable},
		{lokinet.ErrUnreachable, exitUnreachable},
		{context.DeadlineExceeded, exitUnreachable},
		{media.ErrNoDevice, exitAudio},
		{media.ErrBadWAV, exitAudio},
		{lokinet.ErrInvalidAddress, exitUsage},
		{lokinet.ErrInvalidTarget, exitUsage},
		{lokinet.ErrBadConfig, exitUsage},
		{media.ErrBadSpec, exitUsage},
		{ice.ErrUnknownMode, exitUsage},
		{ice.ErrModeUnavailable, exitUsage},
		{ice.ErrBadServer, exitUsage},
		{config.ErrSyntax, exitUsage},
		{config.ErrBadContact, exitUsage},
		{config.ErrNoContact, exitUsage},
		{config.ErrLayout, exitUsage},
		{call.ErrBadAccept, exitUsage},
	} {
		if errors.Is(err, m.sentinel) {
			return m.code
		}
	}
	return exitFailure
}
