package lokinet

import (
	"context"
	"time"

	"github.com/vishvananda/netlink"
)

// watchRecheck is how often a watcher checks its interface between
// rtnetlink notifications, in case one was lost.
const watchRecheck = 2 * time.Second

// subscribeLinks follows the kernel's link and address notifications
// (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR) of the calling process's network
// namespace; each one pokes the returned channel.
func subscribeLinks(ctx context.Context) (<-chan struct{}, time.Duration, error) {
	done := make(chan struct{})
	links := make(chan netlink.LinkUpdate, 16)
	addrs := make(chan netlink.AddrUpdate, 16)
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{}); err != nil {
		close(done)
		return nil, 0, err
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{}); err != nil {
		close(done)
		return nil, 0, err
	}
	changes := make(chan struct{}, 1)
	poke := func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	go func() {
		defer func() {
			close(done)
			// Let the subscriptions' readers finish and close their
			// channels.
			go drain(links)
			go drain(addrs)
		}()
		for links != nil || addrs != nil {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-links:
				if !ok {
					links = nil // the socket failed: polling goes on
				}
				poke()
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
				}
				poke()
			}
		}
		<-ctx.Done()
	}()
	return changes, watchRecheck, nil
}

func drain[T any](c <-chan T) {
	if c == nil {
		return
	}
	for range c {
	}
}
