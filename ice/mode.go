package ice

import "fmt"

// Mode is a connectivity policy: which candidates are gathered and accepted,
// and so who can learn the node's IP address.
type Mode string

const (
	// ModeOnion gathers only a host candidate on the Lokinet interface and
	// accepts only Lokinet-range remote candidates: nobody learns an IP.
	ModeOnion Mode = "onion"
	// ModeP2P uses host, server-reflexive and relay candidates on non-Lokinet
	// interfaces: the peer and the STUN/TURN operator learn the IP.
	ModeP2P Mode = "p2p"
	// ModeRelay uses TURN relay candidates only: the TURN operator learns the IP.
	ModeRelay Mode = "relay"
)

// ParseMode returns the Mode named s. Only onion mode is built so far; the
// others are recognised so that the error says so rather than "unknown".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOnion:
		return m, nil
	case ModeP2P, ModeRelay:
		return "", fmt.Errorf("%w: %q exposes your IP address and is not built yet", ErrModeUnavailable, s)
	default:
		return "", fmt.Errorf("%w: %q (want onion)", ErrUnknownMode, s)
	}
}

// String returns the mode's name.
func (m Mode) String() string { return string(m) }
