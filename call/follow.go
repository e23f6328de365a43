package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// ProgressLokinetWaiting is the progress reason a listener gives, once per
// outage, when Lokinet has been away for ListenConfig.LokinetWait: it keeps
// waiting for it.
const ProgressLokinetWaiting = "lokinet-waiting"

// DefaultLokinetWait is how long a listener waits for Lokinet to come back
// before it says that it is still waiting.
const DefaultLokinetWait = time.Minute

// rebindable is the listening socket of a callee as a net.Listener whose
// socket under it can be replaced: the signalling server accepts from it
// throughout, while the socket follows Lokinet's address. Between sockets
// (Lokinet away) nothing is bound and Accept waits.
type rebindable struct {
	conns     chan accepted
	closed    chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	cur  net.Listener // nil while Lokinet is away
	addr net.Addr     // the last socket's address
}

// accepted is one Accept result of the socket under a rebindable.
type accepted struct {
	conn net.Conn
	err  error
}

func newRebindable(ln net.Listener) *rebindable {
	r := &rebindable{conns: make(chan accepted), closed: make(chan struct{})}
	r.set(ln)
	return r
}

// set replaces the socket with ln, or with none if ln is nil, and closes
// the one it replaces.
func (r *rebindable) set(ln net.Listener) {
	r.mu.Lock()
	old := r.cur
	r.cur = ln
	if ln != nil {
		r.addr = ln.Addr()
	}
	r.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if ln == nil {
		return
	}
	select {
	case <-r.closed:
		_ = ln.Close()
		return
	default:
	}
	go r.accept(ln)
}

// accept hands ln's connections and errors to Accept, one per call, until
// ln is closed or replaced.
func (r *rebindable) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			r.mu.Lock()
			replaced := r.cur != ln
			r.mu.Unlock()
			if replaced || errors.Is(err, net.ErrClosed) {
				return
			}
		}
		select {
		case r.conns <- accepted{c, err}:
		case <-r.closed:
			if c != nil {
				_ = c.Close()
			}
			return
		}
	}
}

// Accept waits for a connection on the current socket.
func (r *rebindable) Accept() (net.Conn, error) {
	select {
	case a := <-r.conns:
		return a.conn, a.err
	case <-r.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the socket; Accept then returns net.ErrClosed.
func (r *rebindable) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	r.set(nil)
	return nil
}

// Addr is the current socket's address, or the last one's while Lokinet is
// away.
func (r *rebindable) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// listenLokinet opens the signalling socket on ip, the node's Lokinet
// address, and nowhere else.
func listenLokinet(ctx context.Context, ip netip.Addr, port uint16) (net.Listener, error) {
	addr := netip.AddrPortFrom(ip, port)
	if !ip.IsValid() || ip.IsUnspecified() {
		return nil, fmt.Errorf("listen on Lokinet address %s: not an address of this node", addr)
	}
	var lcfg net.ListenConfig
	ln, err := lcfg.Listen(ctx, "tcp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen on Lokinet address %s: %w", addr, err)
	}
	return ln, nil
}

// currentNode is the node a listener serves on, as Lokinet shows it now.
type currentNode struct {
	mu   sync.Mutex
	node lokinet.Node
}

func (c *currentNode) get() lokinet.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

func (c *currentNode) set(n lokinet.Node) {
	c.mu.Lock()
	c.node = n
	c.mu.Unlock()
}

// follower keeps a listener's socket on Lokinet's address while the daemon
// comes and goes.
type follower struct {
	lc   *ListenConfig
	port uint16
	ln   *rebindable
	node *currentNode
	log  *slog.Logger
}

// run follows Lokinet's interface until ctx ends: when it goes away the
// socket is closed (nothing is bound while Lokinet is away) and the
// listener says so; when it comes back and Lokinet's DNS answers, the node
// is looked up again and the socket opened on its address as it is now, on
// the same port. If Lokinet is not back (interface and DNS) within
// LokinetWait, the listener says so once and waits on. Calls in progress
// follow the daemon on their own.
func (f *follower) run(ctx context.Context) {
	name := f.node.get().Interface
	if name == "" {
		return
	}
	states, err := f.lc.watchLokinet(ctx, name)
	if err != nil {
		f.log.Warn("cannot watch Lokinet's interface; a daemon restart will stop the listener from receiving calls", "interface", name, "err", err)
		return
	}
	wait := f.lc.LokinetWait
	if wait <= 0 {
		wait = DefaultLokinetWait
	}
	var (
		prefix  netip.Prefix
		first   = true
		away    bool      // the socket is closed until Lokinet is back
		since   time.Time // when Lokinet went away
		waiting <-chan time.Time
		// The lookup and socket of the latest return, if one is under
		// way; results of earlier ones (gen) are dropped.
		cancelBind = func() {}
		gen        int
		bound      = make(chan rebound)
	)
	defer func() { cancelBind() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-waiting:
			waiting = nil
			msg := fmt.Sprintf("Lokinet has not come back for %v; still waiting for it (calls are not received meanwhile)",
				time.Since(since).Round(time.Second))
			f.log.Warn(msg, "interface", name)
			f.lc.Events.emit(Event{Kind: EventProgress, Reason: ProgressLokinetWaiting, Message: msg})
		case r := <-bound:
			if r.gen != gen {
				_ = r.ln.Close()
				continue
			}
			away, waiting = false, nil
			f.listenAgain(r)
		case st, ok := <-states:
			if !ok {
				return
			}
			wasFirst := first
			first = false
			switch {
			case wasFirst && st.Up:
				prefix = st.Prefix
			case !st.Up:
				cancelBind()
				gen++
				if away {
					continue
				}
				away, since = true, time.Now()
				f.ln.set(nil)
				waiting = time.After(wait)
				msg := fmt.Sprintf("Lokinet went away; waiting for it to come back (interface %s)", name)
				f.log.Warn(msg)
				f.lc.Events.emit(Event{Kind: EventProgress, Reason: ProgressLokinetDown, Message: msg})
			case away || st.Prefix != prefix:
				// Back, or back so quickly that only the address changed.
				prefix = st.Prefix
				cancelBind()
				gen++
				bctx, cancel := context.WithCancel(ctx)
				cancelBind = cancel
				go f.rebind(bctx, name, gen, bound)
			}
		}
	}
}

// rebound is a listening socket on the node's address once Lokinet is back.
type rebound struct {
	gen  int
	node lokinet.Node
	ln   net.Listener
}

// rebind looks the node up again once Lokinet answers and listens on its
// address, retrying until it can or ctx ends; the socket goes to out.
func (f *follower) rebind(ctx context.Context, name string, gen int, out chan<- rebound) {
	for failed := false; ; failed = true {
		node, err := awaitNode(ctx, f.lc.Resolver, name, f.log)
		if err != nil {
			return // ctx ended
		}
		ln, err := listenLokinet(ctx, node.IP, f.port)
		if err == nil {
			select {
			case out <- rebound{gen: gen, node: node, ln: ln}:
			case <-ctx.Done():
				_ = ln.Close()
			}
			return
		}
		if !failed {
			f.log.Warn("Lokinet is back but its address cannot be listened on; retrying", "err", err)
		}
		select {
		case <-time.After(rediscoverEvery):
		case <-ctx.Done():
			return
		}
	}
}

// listenAgain serves on r's socket, the node as Lokinet shows it now.
func (f *follower) listenAgain(r rebound) {
	was := f.node.get()
	f.node.set(r.node)
	f.ln.set(r.ln)
	if was.IP != r.node.IP || was.Range != r.node.Range {
		f.log.Info("this node's Lokinet address changed", "was", was.IP, "now", r.node.IP, "range", r.node.Range)
	}
	f.lc.Events.emit(Event{Kind: EventProgress, Reason: ProgressLokinetBack,
		Message: fmt.Sprintf("Lokinet is back (%s on %s); listening again", r.node.IP, r.node.Interface)})
	f.lc.Events.emit(Event{Kind: EventListen, Address: r.node.Address.String(), Message: r.ln.Addr().String()})
}
