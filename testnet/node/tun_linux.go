package node

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
)

// openTUN creates the TUN interface name (without packet information
// headers), gives it addr, sets its MTU and brings it up. The interface
// disappears when the returned file is closed.
func openTUN(name string, addr netip.Prefix, mtu int) (*os.File, error) {
	t := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: name, MTU: mtu},
		Mode:       netlink.TUNTAP_MODE_TUN,
		Flags:      netlink.TUNTAP_NO_PI | netlink.TUNTAP_TUN_EXCL,
		Queues:     1,
		NonPersist: true,
	}
	if err := netlink.LinkAdd(t); err != nil {
		return nil, fmt.Errorf("node: create %s: %w", name, err)
	}
	f := t.Fds[0]
	fail := func(step string, err error) (*os.File, error) {
		f.Close()
		return nil, fmt.Errorf("node: %s %s: %w", step, name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fail("find", err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fail("set MTU of", err)
	}
	ipnet := &netlink.Addr{IPNet: netipPrefixToIPNet(addr)}
	if err := netlink.AddrAdd(link, ipnet); err != nil {
		return fail("address", err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fail("bring up", err)
	}
	return f, nil
}
