package ice

import "errors"

var (
	// ErrLeak reports a candidate or SDP that would carry a non-Lokinet
	// address out of the process. The call must fail closed.
	ErrLeak = errors.New("ice: would expose a non-Lokinet address")
	// ErrHostileSDP reports a remote SDP that lokicall refuses to apply.
	ErrHostileSDP = errors.New("ice: unacceptable remote SDP")
	// ErrRefusedCandidate reports a remote candidate outside the policy.
	ErrRefusedCandidate = errors.New("ice: remote candidate refused")
	// ErrUnknownMode reports a mode name that lokicall does not know.
	ErrUnknownMode = errors.New("ice: unknown mode")
	// ErrModeUnavailable reports a known mode that this build cannot run.
	ErrModeUnavailable = errors.New("ice: mode not available")
)
