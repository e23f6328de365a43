package ice

import (
	"context"
	"fmt"
	"net/netip"

	pionice "github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/signalling"
)

// ExportCandidate checks a locally gathered candidate against the policy and
// translates it for signalling: the node's Lokinet IP is replaced by its .loki
// address, since Lokinet IPs are local to each node and meaningless (and
// misleading) to the peer. A candidate on any other address is a leak and
// fails with ErrLeak.
func (e *Endpoint) ExportCandidate(c webrtc.ICECandidate) (signalling.Candidate, error) {
	if e.mode.ExposesIP() {
		return e.exportExposed(c)
	}
	addr, err := netip.ParseAddr(c.Address)
	if err != nil {
		return signalling.Candidate{}, fmt.Errorf("%w: local candidate address %q is not an IP", ErrLeak, c.Address)
	}
	if addr.Unmap() != e.node.IP {
		return signalling.Candidate{}, fmt.Errorf("%w: local candidate on %v, not the Lokinet address %v", ErrLeak, addr, e.node.IP)
	}
	if c.Typ != webrtc.ICECandidateTypeHost || c.Protocol != webrtc.ICEProtocolUDP {
		return signalling.Candidate{}, fmt.Errorf("%w: local %s %s candidate is outside onion mode", ErrLeak, c.Protocol, c.Typ)
	}
	return signalling.Candidate{
		Foundation: c.Foundation,
		Component:  c.Component,
		Protocol:   "udp",
		Priority:   c.Priority,
		Name:       e.node.Address.String(),
		Port:       c.Port,
		Type:       "host",
	}, nil
}

// PeerResolver maps the peer's .loki address to this node's view of its IP.
type PeerResolver func(ctx context.Context, peer lokinet.Address) (netip.Addr, error)

// ImportCandidate turns a candidate received from the peer into one pion can
// use. The candidate must name the peer itself (a peer may not steer this node
// towards third parties); the name is resolved through resolve, and the
// result must lie in the Lokinet range and differ from the node's own IP. A
// candidate that signalling would refuse as malformed is refused here too, so
// that no field can smuggle text into the candidate line given to pion.
func (e *Endpoint) ImportCandidate(ctx context.Context, c signalling.Candidate, peer lokinet.Address, resolve PeerResolver) (webrtc.ICECandidateInit, error) {
	if err := c.Validate(); err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %w", ErrRefusedCandidate, err)
	}
	if e.mode.ExposesIP() {
		return e.importExposed(c)
	}
	if c.Name == "" {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: an address candidate in onion mode", ErrRefusedCandidate)
	}
	name, err := lokinet.ParseAddress(c.Name)
	if err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %w", ErrRefusedCandidate, err)
	}
	if name != peer {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: candidate names %s, not the peer %s", ErrRefusedCandidate, name, peer)
	}
	if c.Type != "host" || c.Protocol != "udp" || c.Port == 0 {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %s %s candidate port %d is outside onion mode", ErrRefusedCandidate, c.Protocol, c.Type, c.Port)
	}
	ip, err := resolve(ctx, name)
	if err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("ice: resolve candidate name %s: %w", name, err)
	}
	ip = ip.Unmap()
	if !e.node.Contains(ip) {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %s resolves to %v, outside Lokinet range %v or this node itself",
			ErrRefusedCandidate, name, ip, e.node.Range)
	}
	host, err := pionice.NewCandidateHost(&pionice.CandidateHostConfig{
		Network:    "udp",
		Address:    ip.String(),
		Port:       int(c.Port),
		Component:  c.Component,
		Priority:   c.Priority,
		Foundation: c.Foundation,
	})
	if err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %w", ErrRefusedCandidate, err)
	}
	return candidateInit("candidate:" + host.Marshal()), nil
}

func candidateInit(line string) webrtc.ICECandidateInit {
	mid := "0"
	var index uint16
	return webrtc.ICECandidateInit{Candidate: line, SDPMid: &mid, SDPMLineIndex: &index}
}

// exportExposed translates a candidate of the p2p and relay modes. It carries
// its IP (the user consented to that) but never a related address: for a
// relay candidate that would be the node's own public IP, which relay mode
// promises to keep from the peer.
func (e *Endpoint) exportExposed(c webrtc.ICECandidate) (signalling.Candidate, error) {
	addr, err := netip.ParseAddr(c.Address)
	if err != nil {
		return signalling.Candidate{}, fmt.Errorf("%w: local candidate address %q is not an IP", ErrLeak, c.Address)
	}
	addr = addr.Unmap()
	if e.node.Range.Contains(addr) {
		return signalling.Candidate{}, fmt.Errorf("%w: local %s candidate on Lokinet address %v outside onion mode", ErrLeak, c.Typ, addr)
	}
	if e.mode == ModeRelay && c.Typ != webrtc.ICECandidateTypeRelay {
		return signalling.Candidate{}, fmt.Errorf("%w: %s candidate in relay mode would reveal %v", ErrLeak, c.Typ, addr)
	}
	return signalling.Candidate{
		Foundation: c.Foundation,
		Component:  c.Component,
		Protocol:   c.Protocol.String(),
		Priority:   c.Priority,
		Address:    addr.String(),
		Port:       c.Port,
		Type:       c.Typ.String(),
	}, nil
}

// importExposed accepts an address candidate in the p2p and relay modes,
// except one inside the Lokinet range.
func (e *Endpoint) importExposed(c signalling.Candidate) (webrtc.ICECandidateInit, error) {
	addr, err := netip.ParseAddr(c.Address)
	if err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %s candidate without an IP address", ErrRefusedCandidate, e.mode)
	}
	addr = addr.Unmap()
	if e.node.Range.Contains(addr) {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %v is a Lokinet address", ErrRefusedCandidate, addr)
	}
	// A peer must not steer this node's connectivity checks at its own
	// machine or at everybody on the link.
	if addr.IsUnspecified() || addr.IsMulticast() || addr.IsLinkLocalUnicast() ||
		addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || (addr.IsLoopback() && !e.node.IP.IsLoopback()) {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %v is not a peer's address", ErrRefusedCandidate, addr)
	}
	line := fmt.Sprintf("candidate:%s %d %s %d %s %d typ %s", c.Foundation, c.Component, c.Protocol, c.Priority, addr, c.Port, c.Type)
	switch c.Type {
	case "host":
	case "srflx", "relay", "prflx":
		line += " raddr 0.0.0.0 rport 0"
	default:
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: type %q", ErrRefusedCandidate, c.Type)
	}
	if c.Protocol == "tcp" {
		line += " tcptype passive"
	}
	if _, err := pionice.UnmarshalCandidate(line); err != nil {
		return webrtc.ICECandidateInit{}, fmt.Errorf("%w: %w", ErrRefusedCandidate, err)
	}
	return candidateInit(line), nil
}
