package signalling

import "errors"

var (
	// ErrMalformed reports a message that is not valid JSON, has unknown,
	// duplicate, missing or forbidden fields, or a field whose value is out of
	// range. The wrapping error names the field.
	ErrMalformed = errors.New("signalling: malformed message")

	// ErrVersion reports a message whose protocol version is not Version.
	ErrVersion = errors.New("signalling: unsupported protocol version")

	// ErrFrameTooLarge reports a frame header that announces a length of 0 or
	// more than MaxMessageSize, or a message that would not fit in a frame.
	// The frame body is not read.
	ErrFrameTooLarge = errors.New("signalling: frame length out of range")

	// ErrUnexpected reports a message that the call state machine does not
	// allow in its current state, or from that side of the call.
	ErrUnexpected = errors.New("signalling: unexpected message")

	// ErrWrongCall reports a message whose call ID is not the current call's.
	ErrWrongCall = errors.New("signalling: message for another call")

	// ErrConfig reports a Server or Dial call missing something it needs.
	ErrConfig = errors.New("signalling: invalid configuration")
)
