package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/onion"
)

// daemon is one run of the node's daemon, from start to stop or restart:
// its interface, address mapping, DNS server and onion endpoint. A restart
// replaces it whole.
type daemon struct {
	n    *Node
	tun  *os.File
	amap *AddrMap
	ep   *onion.Endpoint
	udp  *dns.Server
	tcp  *dns.Server
}

// newDaemon creates the interface, binds DNS and the endpoint's socket.
func (n *Node) newDaemon() (d *daemon, err error) {
	cfg := n.cfg
	d = &daemon{n: n, amap: NewAddrMap(cfg.Address)}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				_ = c()
			}
		}
	}()
	d.ep, err = onion.NewEndpoint(onion.EndpointConfig{
		Identity:     cfg.Identity,
		Directory:    &onion.DirectoryClient{URL: cfg.Directory},
		Listen:       cfg.Listen,
		Hops:         cfg.Hops,
		PathLifetime: cfg.PathLifetime,
		Swap:         cfg.Swap,
		Trace:        cfg.Trace,
		Impair:       n.impair,
		Handler:      d.inbound,
		Logger:       n.log,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, d.ep.Close)
	d.tun, err = openTUN(cfg.Interface, cfg.Address, cfg.MTU)
	if err != nil {
		return nil, err
	}
	closers = append(closers, d.tun.Close)
	h := &DNS{Self: n.self, Map: d.amap, Sessions: d.ep, Logger: n.log}
	pc, err := net.ListenPacket("udp", cfg.DNSAddr)
	if err != nil {
		return nil, fmt.Errorf("node: DNS: %w", err)
	}
	closers = append(closers, pc.Close)
	ln, err := net.Listen("tcp", cfg.DNSAddr)
	if err != nil {
		return nil, fmt.Errorf("node: DNS: %w", err)
	}
	d.udp = &dns.Server{PacketConn: pc, Handler: h}
	d.tcp = &dns.Server{Listener: ln, Handler: h}
	return d, nil
}

// run serves until ctx is done, a restart is requested (it then returns
// the requested down time) or something fails; it then removes the
// interface and closes every socket.
func (d *daemon) run(ctx context.Context, restart <-chan time.Duration) (down time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() { errs <- d.ep.Run(ctx) })
	wg.Go(func() { errs <- d.udp.ActivateAndServe() })
	wg.Go(func() { errs <- d.tcp.ActivateAndServe() })
	wg.Go(func() { errs <- d.outbound(ctx) })
	var first error
	select {
	case <-ctx.Done():
	case down = <-restart:
	case first = <-errs:
	}
	cancel()
	_ = d.udp.Shutdown()
	_ = d.tcp.Shutdown()
	// Shutdown fails if the servers had not started yet; closing their
	// sockets stops them either way.
	_ = d.udp.PacketConn.Close()
	_ = d.tcp.Listener.Close()
	_ = d.tun.Close()
	wg.Wait()
	// What the servers return once their sockets are closed is no news.
	return down, first
}

// outbound carries packets from the TUN interface into the network.
func (d *daemon) outbound(ctx context.Context) error {
	buf := make([]byte, 65536)
	for {
		k, err := d.tun.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("node: read %s: %w", d.n.cfg.Interface, err)
		}
		pkt := buf[:k]
		dst, err := DestinationIPv4(pkt)
		if err != nil {
			d.n.unroutable.Add(1) // IPv6 router solicitations and the like
			continue
		}
		peer, ok := d.amap.Reverse(dst)
		if !ok {
			d.n.unroutable.Add(1)
			continue
		}
		if err := d.ep.Send(peer, pkt); err != nil {
			d.n.log.Debug("send failed", "peer", peer, "err", err)
		}
	}
}

// inbound writes a packet from another node to the TUN interface, from that
// node's address in this node's view to this node's own address.
func (d *daemon) inbound(from lokinet.Address, pkt []byte) {
	src, err := d.amap.Map(from)
	if err != nil {
		d.n.log.Warn("inbound packet dropped", "peer", from, "err", err)
		return
	}
	if err := RewriteInbound(pkt, src, d.amap.Self()); err != nil {
		d.n.log.Debug("inbound packet dropped", "peer", from, "err", err)
		return
	}
	if _, err := d.tun.Write(pkt); err != nil {
		d.n.tunErrors.Add(1)
		d.n.log.Debug("write to interface failed", "err", err)
	}
}
