package signalling

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// DefaultWriteTimeout bounds one Send when ConnOptions.WriteTimeout is zero.
const DefaultWriteTimeout = 10 * time.Second

// frameHeaderLen is the size of a frame's big-endian length prefix.
const frameHeaderLen = 4

// ConnOptions configures a Conn. The zero value is usable.
type ConnOptions struct {
	// WriteTimeout bounds each Send, on top of the context's deadline.
	// Zero or less means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives debug traces of the messages sent and received.
	// Nil discards them.
	Logger *slog.Logger
	// DeadAfter bounds, on a TCP connection, how long data or keepalive
	// probes may go unacknowledged before the connection counts as dead
	// and Receive and Send fail. Zero or less means the package's
	// DeadAfter.
	DeadAfter time.Duration
}

// Conn carries signalling messages over a stream connection, one message per
// frame: a 4-byte big-endian payload length (1 to MaxMessageSize) followed by
// the JSON payload. It is safe for one goroutine calling Receive and any
// number calling Send; Close may be called from any goroutine.
//
// After an error that leaves the stream at an unknown position (an I/O error,
// a bad frame header, a frame cut short, a write that timed out half way)
// the direction concerned is broken and every later call in it returns the
// same error. A context that ends before any byte moved leaves it usable.
type Conn struct {
	nc           net.Conn
	remote       netip.AddrPort
	writeTimeout time.Duration
	log          *slog.Logger

	readMu  sync.Mutex
	readErr error
	hdr     [frameHeaderLen]byte

	writeMu  sync.Mutex
	writeErr error

	closeOnce sync.Once
	closeErr  error
}

// NewConn wraps c, which the Conn then owns. On a TCP connection it turns
// on keepalive probes and bounds unacknowledged data (ConnOptions.DeadAfter).
func NewConn(c net.Conn, opts ConnOptions) *Conn {
	wt := opts.WriteTimeout
	if wt <= 0 {
		wt = DefaultWriteTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dead := opts.DeadAfter
	if dead <= 0 {
		dead = DeadAfter
	}
	if err := watchTCP(c, dead); err != nil {
		log.Warn("signalling: cannot watch the connection for a silent death", "err", err, "remote", c.RemoteAddr())
	}
	return &Conn{
		nc:           c,
		remote:       addrPort(c.RemoteAddr()),
		writeTimeout: wt,
		log:          log,
	}
}

// addrPort converts a net.Addr to an AddrPort, unmapping IPv4-in-IPv6. It
// returns the zero AddrPort for addresses that are not IP addresses, such as
// those of net.Pipe.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case nil:
		return ap
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		p, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}
		}
		ap = p
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// RemoteAddr returns the peer's address as the network layer reports it (for
// a Lokinet connection: the peer's IP in this node's view), or the zero
// AddrPort when the connection has no IP address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// Send encodes m, validating it, and writes it as one frame. It gives up at
// the earlier of ctx's end and the write timeout.
func (c *Conn) Send(ctx context.Context, m Message) error {
	payload, err := Encode(m)
	if err != nil {
		return fmt.Errorf("signalling: send: %w", err)
	}
	frame := make([]byte, frameHeaderLen+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	copy(frame[frameHeaderLen:], payload)

	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signalling: send %s: %w", m.Type, err)
	}
	deadline := time.Now().Add(c.writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// A connection that cannot take a deadline is closed or broken; the
	// write reports which.
	_ = c.nc.SetWriteDeadline(deadline)
	stop := interruptOnDone(ctx, c.nc.SetWriteDeadline)
	n, err := c.nc.Write(frame)
	stop()
	if err != nil {
		err = fmt.Errorf("signalling: send %s to %s: %w", m.Type, c.remote, contextError(ctx, err))
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) && !isContextError(err) {
			c.writeErr = err
		}
		return err
	}
	c.log.Debug("signalling: sent", "type", m.Type, "call_id", m.CallID, "bytes", len(payload), "remote", c.remote)
	return nil
}

// Receive reads and decodes the next message. It gives up when ctx ends. It
// returns io.EOF itself when the peer closed the connection cleanly between
// frames; a bad frame header wraps ErrFrameTooLarge; a bad payload wraps
// ErrMalformed or ErrVersion (the stream stays usable after those two).
func (c *Conn) Receive(ctx context.Context) (Message, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return Message{}, c.readErr
	}
	if err := ctx.Err(); err != nil {
		return Message{}, fmt.Errorf("signalling: receive: %w", err)
	}
	deadline, _ := ctx.Deadline() // zero: no deadline
	// A connection that cannot take a deadline is closed or broken (net.Pipe
	// refuses one once the peer closed); the read reports which.
	_ = c.nc.SetReadDeadline(deadline)
	stop := interruptOnDone(ctx, c.nc.SetReadDeadline)
	payload, n, err := c.readFrame()
	stop()
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			c.readErr = io.EOF
			return Message{}, io.EOF
		}
		err = fmt.Errorf("signalling: receive from %s: %w", c.remote, contextError(ctx, err))
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) && !isContextError(err) {
			c.readErr = err
		}
		return Message{}, err
	}
	m, err := Decode(payload)
	if err != nil {
		return Message{}, fmt.Errorf("signalling: receive from %s: %w", c.remote, err)
	}
	c.log.Debug("signalling: received", "type", m.Type, "call_id", m.CallID, "bytes", len(payload), "remote", c.remote)
	return m, nil
}

// readFrame reads one frame and returns its payload and the number of bytes
// consumed from the stream.
func (c *Conn) readFrame() ([]byte, int, error) {
	n, err := io.ReadFull(c.nc, c.hdr[:])
	if err != nil {
		if n > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, n, fmt.Errorf("frame header: %w", err)
	}
	size := binary.BigEndian.Uint32(c.hdr[:])
	if size == 0 || size > MaxMessageSize {
		return nil, n, fmt.Errorf("%w: %d bytes, want 1 to %d", ErrFrameTooLarge, size, MaxMessageSize)
	}
	payload := make([]byte, size)
	m, err := io.ReadFull(c.nc, payload)
	n += m
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, n, fmt.Errorf("frame body (%d of %d bytes): %w", m, size, err)
	}
	return payload, n, nil
}

// Close closes the underlying connection, unblocking Send and Receive. Later
// calls return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if err := c.nc.Close(); err != nil {
			c.closeErr = fmt.Errorf("signalling: close: %w", err)
		}
	})
	return c.closeErr
}

// CloseWrite ends the sending direction only: the peer reads everything sent
// so far and then EOF, while this side can still receive. Closing a TCP socket
// outright with unread input sends a reset that can destroy a final message in
// flight, so a side that is done sends its last message, calls CloseWrite,
// reads until EOF and only then calls Close.
func (c *Conn) CloseWrite() error {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := cw.CloseWrite(); err != nil {
		return fmt.Errorf("signalling: close write: %w", err)
	}
	return nil
}

// lingerLimit bounds how much a closing connection drains from its peer.
const lingerLimit = 4 * MaxMessageSize

// CloseLinger closes c after giving the peer a chance to read what was sent
// last. Closing a TCP socket with unread input (such as candidates trickled
// after a refused offer) sends a reset, which can destroy the reply in
// flight; so shut down the sending side, drain input until the peer closes,
// timeout passes or ctx ends, and only then close.
func (c *Conn) CloseLinger(ctx context.Context, timeout time.Duration) error {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		return c.Close()
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := cw.CloseWrite(); err == nil {
		if err := c.nc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
			stop := interruptOnDone(ctx, c.nc.SetReadDeadline)
			_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, lingerLimit))
			stop()
		}
	}
	return c.Close()
}

// interruptOnDone arranges for setDeadline(past) when ctx ends, so that a
// blocked read or write returns. The returned stop undoes the arrangement
// and, if it already fired, waits until it has finished, so that the caller
// can set a new deadline without racing it.
func interruptOnDone(ctx context.Context, setDeadline func(time.Time) error) (stop func()) {
	fired := make(chan struct{})
	stopFunc := context.AfterFunc(ctx, func() {
		_ = setDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stopFunc() {
			<-fired
		}
	}
}

// contextError replaces a deadline error caused by ctx with ctx's error.
func contextError(ctx context.Context, err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
