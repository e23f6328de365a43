package signalling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var localhost = netip.MustParseAddr("127.0.0.1")

type harness struct {
	addr       netip.AddrPort
	incoming   chan *Incoming
	identified chan netip.Addr
	logs       *syncBuffer
}

// startServer serves on 127.0.0.1:0, where 127.0.0.1 is alice, until the
// test ends; configure may change the Server before it starts.
func startServer(t *testing.T, configure func(*Server)) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		addr:       netip.MustParseAddrPort(ln.Addr().String()),
		incoming:   make(chan *Incoming, 4),
		identified: make(chan netip.Addr, 16),
		logs:       &syncBuffer{},
	}
	s := &Server{
		Listener: ln,
		Identify: func(_ context.Context, ip netip.Addr) (lokinet.Address, error) {
			select {
			case h.identified <- ip:
			default:
			}
			if ip != localhost {
				return lokinet.Address{}, fmt.Errorf("no PTR for %s", ip)
			}
			return lokinet.ParseAddress(alice)
		},
		Handle: func(_ context.Context, in *Incoming) { h.incoming <- in },
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v, want nil after cancel", err)
			}
		case <-time.After(guard):
			t.Errorf("Serve did not return after cancel")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs)
		}
	})
	return h
}

func (h *harness) dial(t *testing.T) *Conn {
	t.Helper()
	c, err := Dial(guarded(t), &net.Dialer{}, h.addr, ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (h *harness) dialRaw(t *testing.T) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", h.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// expectOffer waits for Handle to be given an offer and checks it.
func (h *harness) expectOffer(t *testing.T, want Message, from *Conn) *Incoming {
	t.Helper()
	select {
	case in := <-h.incoming:
		t.Cleanup(func() { _ = in.Conn.Close() })
		if in.Offer.CallID != want.CallID || in.Offer.Type != TypeOffer || in.Offer.SDP != want.SDP {
			t.Errorf("Handle got offer %+v, want %+v", in.Offer, want)
		}
		if in.Caller.String() != alice {
			t.Errorf("Caller = %v, want %s", in.Caller, alice)
		}
		if from != nil && in.Remote != netip.MustParseAddrPort(from.nc.LocalAddr().String()) {
			t.Errorf("Remote = %v, want the caller's %v", in.Remote, from.nc.LocalAddr())
		}
		return in
	case <-time.After(guard):
		t.Fatal("Handle was not called")
		return nil
	}
}

func newOffer(from string) Message {
	m := Message{Version: Version, Type: TypeOffer, CallID: NewCallID(), From: from, SDP: testSDP}
	return m
}

// expectRefusal reads the server's one reply and then the end of the stream.
func expectRefusal(t *testing.T, c *Conn, offer Message, typ Type, reason string) {
	t.Helper()
	ctx := guarded(t)
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if m.Type != typ || m.Reason != reason || m.CallID != offer.CallID {
		t.Errorf("got %+v, want %s %q for call %s", m, typ, reason, offer.CallID)
	}
	if _, err := c.Receive(ctx); err != io.EOF { //nolint:errorlint // the contract is io.EOF itself
		t.Errorf("after the refusal: %v, want io.EOF", err)
	}
}

func TestServerHandsOffer(t *testing.T) {
	h := startServer(t, nil)
	for _, from := range []string{alice, ""} {
		c := h.dial(t)
		offer := newOffer(from)
		if err := c.Send(guarded(t), offer); err != nil {
			t.Fatal(err)
		}
		in := h.expectOffer(t, offer, c)
		if ip := <-h.identified; ip != localhost {
			t.Errorf("Identify got %v, want %v", ip, localhost)
		}
		// The Conn handed over carries the rest of the call.
		ringing := Message{Version: Version, Type: TypeRinging, CallID: offer.CallID}
		if err := in.Conn.Send(guarded(t), ringing); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Receive(guarded(t)); err != nil || m.Type != TypeRinging {
			t.Fatalf("caller got %+v, %v; want ringing", m, err)
		}
	}
}

func TestServerRefuses(t *testing.T) {
	for _, c := range []struct {
		name      string
		configure func(*Server)
		from      string
		typ       Type
		reason    string
	}{
		{"spoofed from", nil, bob, TypeReject, ReasonCallerIDMismatch},
		{"identify fails", func(s *Server) {
			s.Identify = func(context.Context, netip.Addr) (lokinet.Address, error) {
				return lokinet.Address{}, errors.New("PTR: NXDOMAIN")
			}
		}, alice, TypeReject, ReasonUnknownCaller},
		{"identify finds nobody", func(s *Server) {
			s.Identify = func(context.Context, netip.Addr) (lokinet.Address, error) { return lokinet.Address{}, nil }
		}, "", TypeReject, ReasonUnknownCaller},
		{"busy", func(s *Server) { s.Busy = func() bool { return true } }, alice, TypeBusy, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startServer(t, c.configure)
			conn := h.dial(t)
			offer := newOffer(c.from)
			if err := conn.Send(guarded(t), offer); err != nil {
				t.Fatal(err)
			}
			expectRefusal(t, conn, offer, c.typ, c.reason)
			select {
			case in := <-h.incoming:
				t.Fatalf("Handle was called with %+v", in)
			default:
			}
		})
	}
}

// TestServerRefusalSurvivesTrickle checks that a refusal reaches a caller
// that trickled candidates right after its offer: closing a socket with
// unread input resets the connection, which can destroy the reply.
func TestServerRefusalSurvivesTrickle(t *testing.T) {
	h := startServer(t, nil)
	for range 5 {
		c := h.dial(t)
		offer := newOffer(bob)
		ctx := guarded(t)
		if err := c.Send(ctx, offer); err != nil {
			t.Fatal(err)
		}
		cand := fixtures()[TypeCandidate]
		cand.CallID = offer.CallID
		for range 50 {
			if err := c.Send(ctx, cand); err != nil {
				t.Fatal(err)
			}
		}
		expectRefusal(t, c, offer, TypeReject, ReasonCallerIDMismatch)
	}
}

func TestServerDropsBadConnections(t *testing.T) {
	ringing, _ := Encode(Message{Version: Version, Type: TypeRinging, CallID: callID})
	badJSON := []byte(`{"v":1,"type":"offer","call_id":"` + callID + `","sdp":"v=0\r\n","x":1}`)
	for _, c := range []struct {
		name string
		send []byte
		log  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "frame length out of range"},
		{"oversize frame", frame(MaxMessageSize+1, bytes.Repeat([]byte{'x'}, 1024)), "frame length out of range"},
		{"empty frame", frame(0, nil), "frame length out of range"},
		{"malformed offer", frame(uint32(len(badJSON)), badJSON), "malformed"},
		{"not an offer", frame(uint32(len(ringing)), ringing), "not an offer"},
		{"slow loris", nil, "deadline exceeded"},
		{"slow loris mid-frame", frame(100, []byte(`{"v":1`)), "deadline exceeded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startServer(t, func(s *Server) { s.FirstMessageTimeout = 100 * time.Millisecond })
			nc := h.dialRaw(t)
			if len(c.send) > 0 {
				if _, err := nc.Write(c.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = nc.SetReadDeadline(time.Now().Add(guard))
			n, err := nc.Read(make([]byte, 64))
			if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %d, %v; want the server to close without a reply", n, err)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("Read error %v, want EOF or a reset", err)
			}
			logs := h.logs.String()
			remote := "remote=" + nc.LocalAddr().String()
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, remote) || !strings.Contains(logs, c.log) {
				t.Errorf("want a warning with %s mentioning %q; log:\n%s", remote, c.log, logs)
			}

			// The server still serves the next caller.
			good := h.dial(t)
			offer := newOffer(alice)
			if err := good.Send(guarded(t), offer); err != nil {
				t.Fatal(err)
			}
			h.expectOffer(t, offer, good)
		})
	}
}

// TestServeShutdown checks that cancelling Serve ends idle connections and
// Handle calls, closes the listener and returns only after all of them.
func TestServeShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handling := make(chan struct{})
	var handled atomic.Bool
	s := &Server{
		Listener: ln,
		Identify: func(context.Context, netip.Addr) (lokinet.Address, error) { return lokinet.ParseAddress(alice) },
		Handle: func(ctx context.Context, in *Incoming) {
			defer in.Conn.Close()
			close(handling)
			<-ctx.Done()
			handled.Store(true)
		},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	addr := netip.MustParseAddrPort(ln.Addr().String())
	idle, err := net.Dial("tcp", addr.String()) // sends nothing; default 10 s timeout
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	caller, err := Dial(guarded(t), &net.Dialer{}, addr, ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	if err := caller.Send(guarded(t), newOffer(alice)); err != nil {
		t.Fatal(err)
	}
	<-handling

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(guard):
		t.Fatal("Serve did not return after cancel")
	}
	if !handled.Load() {
		t.Error("Serve returned before Handle did")
	}
	if _, err := caller.Receive(guarded(t)); err != io.EOF { //nolint:errorlint // the contract is io.EOF itself
		t.Errorf("caller Receive after shutdown = %v, want io.EOF", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(guard))
	if _, err := idle.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle connection still open after shutdown")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener Accept after Serve = %v, want net.ErrClosed", err)
	}
}

func TestServeConfig(t *testing.T) {
	if err := (&Server{}).Serve(t.Context()); !errors.Is(err, ErrConfig) {
		t.Errorf("Serve without listener = %v, want ErrConfig", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Server{Listener: ln}).Serve(t.Context()); !errors.Is(err, ErrConfig) {
		t.Errorf("Serve without Identify/Handle = %v, want ErrConfig", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after Serve: %v", err)
	}
}

// failingListener returns errs from Accept in turn, then blocks until closed.
type failingListener struct {
	errs   []error
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *failingListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestServeListenerFails(t *testing.T) {
	broken := errors.New("interface gone")
	ln := &failingListener{
		errs:   []error{&net.OpError{Op: "accept", Err: syscall.ECONNABORTED}, syscall.EMFILE, broken},
		closed: make(chan struct{}),
	}
	s := &Server{
		Listener: ln,
		Identify: func(context.Context, netip.Addr) (lokinet.Address, error) { return lokinet.Address{}, nil },
		Handle:   func(context.Context, *Incoming) {},
	}
	if err := s.Serve(guarded(t)); !errors.Is(err, broken) {
		t.Errorf("Serve = %v, want it to retry the passing errors and return %v", err, broken)
	}
	select {
	case <-ln.closed:
	default:
		t.Errorf("listener not closed")
	}
}

// TestServerBoundsPendingConnections: connections that have not made their
// offer are bounded; one over the bound is closed at once, and a freed slot
// serves the next caller.
func TestServerBoundsPendingConnections(t *testing.T) {
	h := startServer(t, func(s *Server) { s.MaxPending = 1 })
	idle := h.dialRaw(t)
	if _, err := idle.Write([]byte{0}); err != nil { // one byte of a frame header: it holds its slot
		t.Fatal(err)
	}
	extra := h.dialRaw(t)
	_ = extra.SetReadDeadline(time.Now().Add(guard))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over the bound was not closed")
	}
	_ = idle.Close()
	// The slot frees when the idle connection's goroutine notices.
	deadline := time.Now().Add(guard)
	for {
		c := h.dial(t)
		offer := newOffer(alice)
		if err := c.Send(guarded(t), offer); err == nil {
			select {
			case in := <-h.incoming:
				_ = in.Conn.Close()
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no caller was served after the idle connection closed")
		}
	}
}

func newProbe() Message { return Message{Version: Version, Type: TypeProbe, CallID: NewCallID()} }

// TestServerAnswersProbes: an allowed caller's probes are answered one by
// one, up to MaxProbes per connection, and never reach Handle; a refused
// caller gets the reject its call would get, and nothing more.
func TestServerAnswersProbes(t *testing.T) {
	var asked atomic.Int32
	h := startServer(t, func(s *Server) {
		s.MaxProbes = 3
		s.Probe = func(_ context.Context, caller lokinet.Address) string {
			asked.Add(1)
			if caller.String() != alice {
				t.Errorf("Probe asked about %v, want %s", caller, alice)
			}
			return ""
		}
	})
	c := h.dial(t)
	for i := range 3 {
		p := newProbe()
		if err := c.Send(guarded(t), p); err != nil {
			t.Fatal(err)
		}
		m, err := c.Receive(guarded(t))
		if err != nil || m.Type != TypeProbeReply || m.CallID != p.CallID {
			t.Fatalf("probe %d: got %+v, %v; want probe-reply for %s", i+1, m, err, p.CallID)
		}
	}
	if _, err := c.Receive(guarded(t)); err != io.EOF { //nolint:errorlint // the contract is io.EOF itself
		t.Errorf("after MaxProbes replies: %v, want io.EOF", err)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("Probe policy asked %d times for one connection, want 1", n)
	}
	select {
	case in := <-h.incoming:
		t.Fatalf("Handle was called with %+v", in)
	default:
	}
}

func TestServerRefusesProbes(t *testing.T) {
	for _, c := range []struct {
		name      string
		configure func(*Server)
		reason    string
	}{
		{"policy refuses", func(s *Server) {
			s.Probe = func(context.Context, lokinet.Address) string { return ReasonNotContact }
		}, ReasonNotContact},
		{"no policy", nil, ReasonDeclined},
		{"identify fails", func(s *Server) {
			s.Probe = func(context.Context, lokinet.Address) string { return "" }
			s.Identify = func(context.Context, netip.Addr) (lokinet.Address, error) {
				return lokinet.Address{}, errors.New("PTR: NXDOMAIN")
			}
		}, ReasonUnknownCaller},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startServer(t, c.configure)
			conn := h.dial(t)
			p := newProbe()
			if err := conn.Send(guarded(t), p); err != nil {
				t.Fatal(err)
			}
			expectRefusal(t, conn, p, TypeReject, c.reason)
		})
	}
}

// TestServerDropsBadProbes: after an answered probe, anything but a probe,
// or silence, closes the connection as a bad first message would.
func TestServerDropsBadProbes(t *testing.T) {
	for _, c := range []struct {
		name string
		next *Message
		log  string
	}{
		{"offer after probe", &Message{Version: Version, Type: TypeOffer, CallID: callID, SDP: testSDP}, "followed by something else"},
		{"silence after probe", nil, "deadline exceeded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startServer(t, func(s *Server) {
				s.FirstMessageTimeout = 100 * time.Millisecond
				s.Probe = func(context.Context, lokinet.Address) string { return "" }
			})
			conn := h.dial(t)
			if err := conn.Send(guarded(t), newProbe()); err != nil {
				t.Fatal(err)
			}
			if m, err := conn.Receive(guarded(t)); err != nil || m.Type != TypeProbeReply {
				t.Fatalf("got %+v, %v; want probe-reply", m, err)
			}
			if c.next != nil {
				if err := conn.Send(guarded(t), *c.next); err != nil {
					t.Fatal(err)
				}
			}
			if m, err := conn.Receive(guarded(t)); err == nil {
				t.Fatalf("got %+v, want the connection closed", m)
			}
			if logs := h.logs.String(); !strings.Contains(logs, c.log) {
				t.Errorf("want a warning mentioning %q; log:\n%s", c.log, logs)
			}
			select {
			case in := <-h.incoming:
				t.Fatalf("Handle was called with %+v", in)
			default:
			}
		})
	}
}

// TestServerBoundsProbingConnections: a connection that probes holds its
// pending slot, so a flood of probing connections is bounded like one of
// idle callers.
func TestServerBoundsProbingConnections(t *testing.T) {
	h := startServer(t, func(s *Server) {
		s.MaxPending = 1
		s.Probe = func(context.Context, lokinet.Address) string { return "" }
	})
	c := h.dial(t)
	if err := c.Send(guarded(t), newProbe()); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(guarded(t)); err != nil || m.Type != TypeProbeReply {
		t.Fatalf("got %+v, %v; want probe-reply", m, err)
	}
	extra := h.dialRaw(t)
	_ = extra.SetReadDeadline(time.Now().Add(guard))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over the bound was not closed while another probed")
	}
}
