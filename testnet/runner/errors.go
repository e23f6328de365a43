package runner

import "errors"

// Sentinel errors.
var (
	// ErrCallFailed: a call did not complete (either side exited non-zero
	// or no audio came through).
	ErrCallFailed = errors.New("runner: call failed")
	// ErrLeak: lokicall sent a packet outside Lokinet.
	ErrLeak = errors.New("runner: lokicall packets outside Lokinet")
	// ErrControlMissed: the negative control's leak was not counted, so the
	// leak proof cannot be trusted.
	ErrControlMissed = errors.New("runner: negative control not flagged")
	// ErrNoSignal: the recording holds none of the source's chirps.
	ErrNoSignal = errors.New("runner: no chirp found in the recording")
	// ErrTestnet: the testnet did not come up or a docker command failed.
	ErrTestnet = errors.New("runner: testnet")
)
