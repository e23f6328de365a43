package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/onion"
)

// Defaults of a node, those of Lokinet 0.9 on Linux.
const (
	DefaultInterface = "lokitun0"
	DefaultMTU       = 1500
)

// DefaultAddress is the interface address of the first free Lokinet range.
var DefaultAddress = netip.MustParsePrefix("172.16.0.1/16")

// Config configures a Node. Zero fields mean Lokinet's defaults; Identity
// and Directory are required.
type Config struct {
	// Identity is the node's ed25519 key (see LoadOrCreateIdentity).
	Identity ed25519.PrivateKey
	// Directory is the directory's URL.
	Directory string
	// Interface is the TUN interface name; DefaultInterface if empty.
	Interface string
	// Address is the interface address and range; DefaultAddress if zero.
	Address netip.Prefix
	// MTU of the interface; DefaultMTU if zero.
	MTU int
	// DNSAddr is where DNS is answered (UDP and TCP); Lokinet's default
	// for Linux (lokinet.Lokinet.DNSAddr) if empty.
	DNSAddr string
	// Listen is the UDP address towards the first relay; any if empty.
	Listen string
	// Hops is the path length; onion.DefaultHops if zero.
	Hops int
	// Logger receives the node's log; none if nil.
	Logger *slog.Logger
}

// Node is a running emulated Lokinet client daemon.
type Node struct {
	cfg  Config
	log  *slog.Logger
	tun  *os.File
	amap *AddrMap
	ep   *onion.Endpoint
	dns  *DNS
	udp  *dns.Server
	tcp  *dns.Server

	unroutable, tunErrors atomic.Uint64
}

// New creates the TUN interface, binds DNS and the endpoint's socket: when
// it returns, a client can query DNS (and gets SERVFAIL for remote names
// until the first path is up). Run starts the node.
func New(cfg Config) (n *Node, err error) {
	if cfg.Interface == "" {
		cfg.Interface = DefaultInterface
	}
	if !cfg.Address.IsValid() {
		cfg.Address = DefaultAddress
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = lokinet.Lokinet.DNSAddr
	}
	n = &Node{cfg: cfg, log: cfg.Logger, amap: NewAddrMap(cfg.Address)}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				_ = c()
			}
		}
	}()
	n.ep, err = onion.NewEndpoint(onion.EndpointConfig{
		Identity:  cfg.Identity,
		Directory: &onion.DirectoryClient{URL: cfg.Directory},
		Listen:    cfg.Listen,
		Hops:      cfg.Hops,
		Handler:   n.inbound,
		Logger:    n.log,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, n.ep.Close)
	n.tun, err = openTUN(cfg.Interface, cfg.Address, cfg.MTU)
	if err != nil {
		return nil, err
	}
	closers = append(closers, n.tun.Close)
	n.dns = &DNS{Self: n.ep.Address(), Map: n.amap, Sessions: n.ep, Logger: n.log}
	pc, err := net.ListenPacket("udp", cfg.DNSAddr)
	if err != nil {
		return nil, fmt.Errorf("node: DNS: %w", err)
	}
	closers = append(closers, pc.Close)
	ln, err := net.Listen("tcp", cfg.DNSAddr)
	if err != nil {
		return nil, fmt.Errorf("node: DNS: %w", err)
	}
	closers = append(closers, ln.Close)
	n.udp = &dns.Server{PacketConn: pc, Handler: n.dns}
	n.tcp = &dns.Server{Listener: ln, Handler: n.dns}
	return n, nil
}

// Address is the node's own address.
func (n *Node) Address() lokinet.Address { return n.ep.Address() }

// Endpoint is the node's presence in the onion network.
func (n *Node) Endpoint() *onion.Endpoint { return n.ep }

// Run serves until ctx is done, then removes the interface, closes every
// socket and returns nil, or returns the first error that stopped it.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.log.Info("node running", "address", n.Address(), "interface", n.cfg.Interface,
		"ip", n.cfg.Address, "dns", n.cfg.DNSAddr)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() { errs <- n.ep.Run(ctx) })
	wg.Go(func() { errs <- n.udp.ActivateAndServe() })
	wg.Go(func() { errs <- n.tcp.ActivateAndServe() })
	wg.Go(func() { errs <- n.outbound(ctx) })
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	_ = n.udp.Shutdown()
	_ = n.tcp.Shutdown()
	// Shutdown fails if the servers had not started yet; closing their
	// sockets stops them either way.
	_ = n.udp.PacketConn.Close()
	_ = n.tcp.Listener.Close()
	_ = n.tun.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if first == nil && err != nil && ctx.Err() == nil {
			first = err
		}
	}
	n.log.Info("node stopped", "unroutable", n.unroutable.Load(), "tun_errors", n.tunErrors.Load())
	return first
}

// outbound carries packets from the TUN interface into the network.
func (n *Node) outbound(ctx context.Context) error {
	buf := make([]byte, 65536)
	for {
		k, err := n.tun.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("node: read %s: %w", n.cfg.Interface, err)
		}
		pkt := buf[:k]
		dst, err := DestinationIPv4(pkt)
		if err != nil {
			n.unroutable.Add(1) // IPv6 router solicitations and the like
			continue
		}
		peer, ok := n.amap.Reverse(dst)
		if !ok {
			n.unroutable.Add(1)
			continue
		}
		if err := n.ep.Send(peer, pkt); err != nil {
			n.log.Debug("send failed", "peer", peer, "err", err)
		}
	}
}

// inbound writes a packet from another node to the TUN interface, from that
// node's address in this node's view to this node's own address.
func (n *Node) inbound(from lokinet.Address, pkt []byte) {
	src, err := n.amap.Map(from)
	if err != nil {
		n.log.Warn("inbound packet dropped", "peer", from, "err", err)
		return
	}
	if err := RewriteInbound(pkt, src, n.amap.Self()); err != nil {
		n.log.Debug("inbound packet dropped", "peer", from, "err", err)
		return
	}
	if _, err := n.tun.Write(pkt); err != nil {
		n.tunErrors.Add(1)
		n.log.Debug("write to interface failed", "err", err)
	}
}
