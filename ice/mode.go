package ice

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

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

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOnion, ModeP2P, ModeRelay:
		return m, nil
	default:
		return "", fmt.Errorf("%w: %q (want onion, p2p or relay)", ErrUnknownMode, s)
	}
}

// String returns the mode's name.
func (m Mode) String() string { return string(m) }

// ExposesIP reports whether the mode lets someone outside Lokinet learn the
// node's IP address, which needs the user's explicit consent.
func (m Mode) ExposesIP() bool { return m == ModeP2P || m == ModeRelay }

// Exposure says, for a warning, who learns the node's IP in this mode.
func (m Mode) Exposure() string {
	switch m {
	case ModeP2P:
		return "the other participant and the STUN/TURN server operators learn your IP address"
	case ModeRelay:
		return "the TURN server operator learns your IP address (the other participant does not)"
	default:
		return "nobody learns your IP address"
	}
}

// ExposureNotice says, for the announcement that precedes a mode's first
// packet, who learns the node's IP: Exposure, the servers the mode contacts,
// and the server host names that will be looked up through the system's DNS
// resolver, outside Lokinet (pion resolves them when it gathers).
func ExposureNotice(m Mode, servers []Server) string {
	if !m.ExposesIP() {
		return m.Exposure()
	}
	var urls, lookups []string
	for _, s := range servers {
		u, err := parseURI(s.URL)
		if err != nil || (m == ModeRelay && !isTURN(u)) {
			continue // unusable, or a STUN server relay mode never contacts
		}
		urls = append(urls, s.URL)
		if _, err := netip.ParseAddr(u.Host); err != nil && !slices.Contains(lookups, u.Host) {
			lookups = append(lookups, u.Host)
		}
	}
	notice := m.Exposure()
	if len(urls) > 0 {
		notice += "; servers: " + strings.Join(urls, ", ")
	}
	if len(lookups) > 0 {
		notice += "; looked up through the system's DNS resolver, outside Lokinet: " + strings.Join(lookups, ", ")
	}
	return notice
}
