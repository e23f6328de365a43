package lokinet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// Node is the local Lokinet node: who it is and where its traffic enters the
// onion network.
type Node struct {
	// Address is the node's own address.
	Address Address
	// IP is the node's own IP, the first address of its range.
	IP netip.Addr
	// Interface is the name of the interface holding IP, such as "lokitun0".
	Interface string
	// Range is the interface prefix holding IP, masked, such as 172.16.0.0/16.
	// Peers appear to this node as IPs in it.
	Range netip.Prefix
}

// Contains reports whether ip may be a remote peer as this node sees it: in
// the node's range and not the node's own IP. This is the rule for accepting
// remote ICE candidates.
func (n Node) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	return n.Range.IsValid() && n.Range.Contains(ip) && ip != n.IP
}

// HostInterface is a network interface as Discover sees it.
type HostInterface struct {
	// Name is the interface name, such as "lokitun0" or "lo".
	Name string
	// Prefixes are the interface's addresses with their prefix length, such
	// as 172.16.0.1/16.
	Prefixes []netip.Prefix
	// Up reports whether the interface is administratively up.
	Up bool
	// Loopback reports whether this is a loopback interface.
	Loopback bool
}

// Probe gathers the operating-system queries Discover makes, so that tests
// can replace them.
type Probe struct {
	// Interfaces lists the host's interfaces; nil means the host's
	// net.Interfaces.
	Interfaces func() ([]HostInterface, error)
}

// DiscoverOptions adjusts Discover.
type DiscoverOptions struct {
	// Interface, if set, names the interface to use instead of searching;
	// it must hold the node's IP.
	Interface string
	// Probe replaces the operating-system queries.
	Probe Probe
}

// Discover asks the daemon behind r (nil means a zero Resolver) for the
// node's address and IP, then finds the interface holding that IP and its
// range. An address on a loopback interface counts as held when the
// interface's prefix contains it (Linux answers for all of 127.0.0.0/8), so
// 127.x stand-ins for the Lokinet range work in tests and demos. Errors
// from the daemon are those of Resolver.Self; interface errors wrap
// ErrNoInterface and say what was looked for and what was found.
func Discover(ctx context.Context, r *Resolver, opts DiscoverOptions) (Node, error) {
	if r == nil {
		r = &Resolver{}
	}
	id, err := r.Self(ctx)
	if err != nil {
		return Node{}, err // already says what was asked of whom
	}
	list := opts.Probe.Interfaces
	if list == nil {
		list = hostInterfaces
	}
	ifaces, err := list()
	if err != nil {
		return Node{}, fmt.Errorf("lokinet: discover: list interfaces: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Node{}, fmt.Errorf("lokinet: discover: %w", err)
	}
	want := fmt.Sprintf("%s (own IP of %s)", id.IP, id.Address)

	if opts.Interface != "" {
		for _, hi := range ifaces {
			if hi.Name != opts.Interface {
				continue
			}
			p, ok := holds(hi, id.IP)
			if !ok {
				return Node{}, wrap(fmt.Sprintf("lokinet: discover: interface %s does not hold %s; it holds %s",
					hi.Name, want, prefixList(hi.Prefixes)), ErrNoInterface, nil)
			}
			if !hi.Up {
				return Node{}, wrap(fmt.Sprintf("lokinet: discover: interface %s holds %s but is down", hi.Name, want),
					ErrNoInterface, nil)
			}
			return Node{Address: id.Address, IP: id.IP, Interface: hi.Name, Range: p.Masked()}, nil
		}
		return Node{}, wrap(fmt.Sprintf("lokinet: discover: no interface named %q (looking for %s); have %s",
			opts.Interface, want, ifaceList(ifaces)), ErrNoInterface, nil)
	}

	// Prefer an exact address over a loopback prefix that merely contains
	// the IP, and an interface of the flavour's name over others.
	prefix := r.flavour().InterfacePrefix
	best, bestScore, down := -1, -1, ""
	var skipped []string
	var bestPrefix netip.Prefix
	for i, hi := range ifaces {
		p, ok := holds(hi, id.IP)
		if !ok {
			continue
		}
		if !hi.Up {
			down = hi.Name
			continue
		}
		// Unless named by the user, only the flavour's TUN interface (or a
		// loopback stand-in) counts: a wrong or hostile resolver naming an
		// address of eth0 must not turn "onion" calls into LAN calls.
		if opts.Interface == "" && !hi.Loopback && prefix != "" && !strings.HasPrefix(hi.Name, prefix) {
			skipped = append(skipped, hi.Name)
			continue
		}
		score := 0
		if p.Addr() == id.IP {
			score += 2
		}
		if prefix != "" && strings.HasPrefix(hi.Name, prefix) {
			score++
		}
		if score > bestScore {
			best, bestScore, bestPrefix = i, score, p
		}
	}
	if best < 0 {
		if len(skipped) > 0 {
			return Node{}, wrap(fmt.Sprintf("lokinet: discover: %s is held by %s, not a %s interface; name it with --lokinet-iface if that is really Lokinet's",
				want, strings.Join(skipped, ", "), prefix), ErrNoInterface, nil)
		}
		if down != "" {
			return Node{}, wrap(fmt.Sprintf("lokinet: discover: interface %s holds %s but is down", down, want),
				ErrNoInterface, nil)
		}
		return Node{}, wrap(fmt.Sprintf("lokinet: discover: no interface holds %s; looked at %s",
			want, ifaceList(ifaces)), ErrNoInterface, nil)
	}
	return Node{Address: id.Address, IP: id.IP, Interface: ifaces[best].Name, Range: bestPrefix.Masked()}, nil
}

// holds returns the prefix of hi that holds ip: an exact address, or on a
// loopback interface any prefix containing ip.
func holds(hi HostInterface, ip netip.Addr) (netip.Prefix, bool) {
	for _, p := range hi.Prefixes {
		if p = unmapPrefix(p); p.IsValid() && p.Addr() == ip {
			return p, true
		}
	}
	if hi.Loopback {
		for _, p := range hi.Prefixes {
			if p = unmapPrefix(p); p.IsValid() && p.Contains(ip) {
				return p, true
			}
		}
	}
	return netip.Prefix{}, false
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix into an IPv4 one; the result
// is invalid if the prefix covers more than the mapped space.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "no addresses"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func ifaceList(ifaces []HostInterface) string {
	if len(ifaces) == 0 {
		return "no interfaces"
	}
	s := make([]string, 0, len(ifaces))
	for _, hi := range ifaces {
		s = append(s, fmt.Sprintf("%s (%s)", hi.Name, prefixList(hi.Prefixes)))
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

// hostInterfaces lists the host's interfaces through package net.
func hostInterfaces() ([]HostInterface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]HostInterface, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		hi := HostInterface{
			Name:     ifc.Name,
			Up:       ifc.Flags&net.FlagUp != 0,
			Loopback: ifc.Flags&net.FlagLoopback != 0,
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, bits := ipn.Mask.Size()
			if ip.Is4In6() {
				ip = ip.Unmap()
				if bits == 128 {
					ones -= 96
				}
			}
			if p := netip.PrefixFrom(ip, ones); p.IsValid() {
				hi.Prefixes = append(hi.Prefixes, p)
			}
		}
		out = append(out, hi)
	}
	return out, nil
}
