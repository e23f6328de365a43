package onion

import "errors"

var (
	// ErrMalformed reports a packet or record that cannot be decoded.
	ErrMalformed = errors.New("onion: malformed packet")
	// ErrAuth reports a packet or record whose authentication failed.
	ErrAuth = errors.New("onion: authentication failed")
	// ErrNoPath reports that the endpoint has no working path yet.
	ErrNoPath = errors.New("onion: no path")
	// ErrNotEnoughRelays reports a directory listing fewer live relays than
	// a path needs.
	ErrNotEnoughRelays = errors.New("onion: not enough relays")
	// ErrUnknownAddress reports an address that has no introduction in the
	// directory, the emulated equivalent of Lokinet's NXDOMAIN.
	ErrUnknownAddress = errors.New("onion: unknown address")
	// ErrNoSession reports a send to a node with which no session exists.
	ErrNoSession = errors.New("onion: no session")
	// ErrBadTrace reports a trace file that cannot be replayed.
	ErrBadTrace = errors.New("onion: bad trace")
	// ErrBadConfig reports a setting out of its range.
	ErrBadConfig = errors.New("onion: bad setting")
	// ErrTimeout reports a path build or session handshake that got no
	// answer in time.
	ErrTimeout = errors.New("onion: timed out")
)
