package lokinet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// InterfaceState is Lokinet's interface as WatchInterface sees it.
type InterfaceState struct {
	// Up reports that the interface exists, is up and holds an IPv4
	// address: the daemon is there.
	Up bool
	// Prefix is the interface's IPv4 address with its range's length, such
	// as 172.16.0.1/16; zero unless Up.
	Prefix netip.Prefix
}

// WatchInterface reports the state of the interface called name: first its
// state now, then each change (the daemon stopped and removed it, it came
// back, perhaps with another address), until ctx ends and the channel is
// closed. A reader that falls behind gets the latest state. On Linux it
// follows the kernel's link and address notifications (rtnetlink) and
// checks again every few seconds in case one was lost; elsewhere it polls.
func WatchInterface(ctx context.Context, name string) (<-chan InterfaceState, error) {
	if name == "" {
		return nil, errors.New("lokinet: watch interface: no interface name")
	}
	changes, poll, err := subscribeLinks(ctx)
	if err != nil {
		return nil, fmt.Errorf("lokinet: watch interface %s: %w", name, err)
	}
	out := make(chan InterfaceState, 1)
	go watchLoop(ctx, name, changes, poll, out)
	return out, nil
}

// watchLoop sends name's state to out whenever it differs from the last
// one sent, checking it on every signal from changes and every poll.
func watchLoop(ctx context.Context, name string, changes <-chan struct{}, poll time.Duration, out chan InterfaceState) {
	defer close(out)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last InterfaceState
	first := true
	for {
		if st := interfaceState(name); first || st != last {
			first, last = false, st
			// Latest wins: drop a state the reader has not taken yet.
			select {
			case <-out:
			default:
			}
			out <- st
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// interfaceState looks name up now.
func interfaceState(name string) InterfaceState {
	ifc, err := net.InterfaceByName(name)
	if err != nil || ifc.Flags&net.FlagUp == 0 {
		return InterfaceState{}
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return InterfaceState{}
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || !ip.Unmap().Is4() {
			continue
		}
		ones, bits := ipn.Mask.Size()
		if bits == 128 {
			ones -= 96
		}
		if p := netip.PrefixFrom(ip.Unmap(), ones); p.IsValid() {
			return InterfaceState{Up: true, Prefix: p}
		}
	}
	return InterfaceState{}
}
