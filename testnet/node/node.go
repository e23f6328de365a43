package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/testnet/onion"
)

// Defaults of a node, those of Lokinet 0.9 on Linux.
const (
	DefaultInterface = "lokitun0"
	DefaultMTU       = 1500
	// DefaultRestartDown is how long an emulated daemon restart keeps the
	// interface and DNS away.
	DefaultRestartDown = 3 * time.Second
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
	// PathLifetime is the age at which paths are replaced; zero: never.
	PathLifetime time.Duration
	// Swap configures Lokinet's half-open session replacement; off if
	// zero.
	Swap onion.SwapConfig
	// Trace, if not nil, is replayed on the data the node sends.
	Trace *onion.Trace
	// Logger receives the node's log; none if nil.
	Logger *slog.Logger
}

// Node is a running emulated Lokinet client daemon. It can be cut off the
// network, given loss, and restarted in-process (Cut, Loss, Restart), as
// its control socket does (ServeControl).
type Node struct {
	cfg    Config
	log    *slog.Logger
	self   lokinet.Address
	impair *onion.Impairment
	ready  chan struct{} // closed once the first path is up
	reqs   chan time.Duration

	mu        sync.Mutex
	inst      *daemon // nil while a restart keeps the daemon down
	downUntil time.Time
	restarts  int
	past      onion.Status // counters of the daemons before inst

	unroutable, tunErrors atomic.Uint64
}

// New creates the TUN interface, binds DNS and the endpoint's socket: when
// it returns, a client can query DNS (and gets SERVFAIL for remote names
// until the first path is up). Run starts the node.
func New(cfg Config) (*Node, error) {
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
	if len(cfg.Identity) != ed25519.PrivateKeySize {
		return nil, errors.New("node: needs an ed25519 identity")
	}
	n := &Node{
		cfg:    cfg,
		log:    cfg.Logger,
		self:   lokinet.AddressFromKey(cfg.Identity.Public().(ed25519.PublicKey)),
		impair: onion.NewImpairment(0),
		ready:  make(chan struct{}),
		reqs:   make(chan time.Duration, 1),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	d, err := n.newDaemon()
	if err != nil {
		return nil, err
	}
	n.inst = d
	return n, nil
}

// Address is the node's own address.
func (n *Node) Address() lokinet.Address { return n.self }

// Endpoint is the node's current presence in the onion network; nil while
// a restart keeps the daemon down.
func (n *Node) Endpoint() *onion.Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inst == nil {
		return nil
	}
	return n.inst.ep
}

// PathReady is closed once the node's first path is up.
func (n *Node) PathReady() <-chan struct{} { return n.ready }

// Run serves until ctx is done, then removes the interface, closes every
// socket and returns nil, or returns the first error that stopped it. A
// Restart stops the daemon and starts it again inside Run.
func (n *Node) Run(ctx context.Context) error {
	n.log.Info("node running", "address", n.Address(), "interface", n.cfg.Interface,
		"ip", n.cfg.Address, "dns", n.cfg.DNSAddr, "session_swap", n.cfg.Swap.Mode,
		"path_lifetime", n.cfg.PathLifetime, "trace", n.cfg.Trace != nil)
	defer func() {
		n.log.Info("node stopped", "unroutable", n.unroutable.Load(), "tun_errors", n.tunErrors.Load())
	}()
	n.mu.Lock()
	d := n.inst
	n.mu.Unlock()
	for {
		dctx, stop := context.WithCancel(ctx)
		go n.signalReady(dctx, d.ep)
		down, err := d.run(ctx, n.reqs)
		stop()
		n.retire(d, down)
		if err != nil || ctx.Err() != nil {
			return err
		}
		n.log.Info("daemon stopped for a restart", "down_ms", down.Milliseconds())
		wait(ctx, down)
		if ctx.Err() != nil {
			return nil
		}
		if d, err = n.newDaemon(); err != nil {
			return fmt.Errorf("node: restart: %w", err)
		}
		n.mu.Lock()
		n.inst, n.downUntil = d, time.Time{}
		n.restarts++
		count := n.restarts
		n.mu.Unlock()
		n.log.Info("daemon restarted", "restarts", count)
	}
}

// retire forgets a stopped daemon, keeping its counters.
func (n *Node) retire(d *daemon, down time.Duration) {
	st := d.ep.Status()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inst = nil
	n.downUntil = time.Now().Add(down)
	n.past.Swaps += st.Swaps
	n.past.PathsBuilt += st.PathsBuilt
	n.past.PathsRebuilt += st.PathsRebuilt
	n.past.PathsExpired += st.PathsExpired
}

func (n *Node) signalReady(ctx context.Context, ep *onion.Endpoint) {
	select {
	case <-ep.PathReady():
		n.mu.Lock()
		select {
		case <-n.ready:
		default:
			close(n.ready)
		}
		n.mu.Unlock()
	case <-ctx.Done():
	}
}

// Restart emulates a restart of the daemon: the interface is removed, DNS
// goes quiet and every path, session and address mapping is forgotten;
// after down (DefaultRestartDown if zero) the node starts again with the
// same identity. It returns at once; ErrRestarting if a restart is already
// under way.
func (n *Node) Restart(down time.Duration) error {
	if down <= 0 {
		down = DefaultRestartDown
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inst == nil {
		return ErrRestarting
	}
	select {
	case n.reqs <- down:
		return nil
	default:
		return ErrRestarting
	}
}

// Cut drops all of the node's onion traffic, both ways, for d.
func (n *Node) Cut(d time.Duration) {
	n.log.Info("cut", "ms", d.Milliseconds())
	n.impair.Cut(d)
}

// Loss drops each of the node's onion packets with probability rate for d.
func (n *Node) Loss(d time.Duration, rate float64) {
	n.log.Info("loss", "ms", d.Milliseconds(), "rate", rate)
	n.impair.Loss(d, rate)
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
