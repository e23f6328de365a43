package node

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/lokicall/lokicall/lokinet"
)

// AddrMap is a node's local view of other nodes: each remote node gets an
// address of the node's own range, in order of first contact (172.16.0.2,
// .3, …), as Lokinet does. Mappings are local: two nodes see each other at
// unrelated addresses. It is safe for concurrent use.
type AddrMap struct {
	prefix netip.Prefix
	self   netip.Addr
	last   netip.Addr // the range's last address, the broadcast, never given out

	mu     sync.Mutex
	next   netip.Addr
	byAddr map[lokinet.Address]netip.Addr
	byIP   map[netip.Addr]lokinet.Address
}

// NewAddrMap returns an empty map for the interface address ifaddr, such as
// 172.16.0.1/16: ifaddr's address is the node itself.
func NewAddrMap(ifaddr netip.Prefix) *AddrMap {
	p := ifaddr.Masked()
	return &AddrMap{
		prefix: p,
		self:   ifaddr.Addr(),
		last:   lastAddr(p),
		next:   ifaddr.Addr().Next(),
		byAddr: make(map[lokinet.Address]netip.Addr),
		byIP:   make(map[netip.Addr]lokinet.Address),
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bits := p.Bits() - 8*i
		switch {
		case bits >= 8:
		case bits <= 0:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> bits
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Self is the node's own address, the first of its range.
func (m *AddrMap) Self() netip.Addr { return m.self }

// Prefix is the node's range.
func (m *AddrMap) Prefix() netip.Prefix { return m.prefix }

// Lookup returns the address mapped to addr, if any.
func (m *AddrMap) Lookup(addr lokinet.Address) (netip.Addr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, ok := m.byAddr[addr]
	return ip, ok
}

// Reverse returns the node mapped to ip, if any.
func (m *AddrMap) Reverse(ip netip.Addr) (lokinet.Address, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byIP[ip]
	return a, ok
}

// Map returns the address of addr, giving it the next free one of the range
// if it has none.
func (m *AddrMap) Map(addr lokinet.Address) (netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ip, ok := m.byAddr[addr]; ok {
		return ip, nil
	}
	for ; m.prefix.Contains(m.next) && m.next != m.last; m.next = m.next.Next() {
		if _, used := m.byIP[m.next]; used || m.next == m.self {
			continue
		}
		ip := m.next
		m.next = m.next.Next()
		m.byAddr[addr], m.byIP[ip] = ip, addr
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %s", ErrRangeFull, m.prefix)
}

// Len is the number of peers mapped.
func (m *AddrMap) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byAddr)
}
