package call

import (
	"errors"
	"fmt"
)

var (
	// ErrRejected reports a call the callee declined.
	ErrRejected = errors.New("call rejected")
	// ErrBusy reports a callee already in a call.
	ErrBusy = errors.New("callee busy")
	// ErrUnreachable reports a peer that could not be reached over Lokinet.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrNoLokinet reports that no Lokinet daemon (or no usable Lokinet
	// interface) was found.
	ErrNoLokinet = errors.New("no Lokinet")
	// ErrTimeout reports a call that did not get through ringing or setup in
	// time.
	ErrTimeout = errors.New("call timed out")
	// ErrMediaFailed reports a media path that failed or broke during a call.
	ErrMediaFailed = errors.New("media path failed")
	// ErrProtocol reports a peer that broke the call protocol.
	ErrProtocol = errors.New("call protocol error")
	// ErrPolicy reports a peer or local setting that the privacy policy
	// refuses.
	ErrPolicy = errors.New("privacy policy refused the call")
)

// ErrConnectionLost reports a peer that vanished without hanging up.
var ErrConnectionLost = errors.New("connection to peer lost")

// ErrCallerHungUp reports, on the callee's side, a caller who gave up before
// the call was accepted.
var ErrCallerHungUp = errors.New("caller hung up")

// ErrAudio reports an audio source, sink or pipeline that failed during a
// call (a device unplugged, a file that cannot be written).
var ErrAudio = errors.New("audio failed")

// ErrMediaLost reports an established call whose audio stopped and did not
// come back within Config.MediaTimeout. It matches ErrMediaFailed too.
var ErrMediaLost = fmt.Errorf("%w: media lost", ErrMediaFailed)
