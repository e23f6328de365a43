package signalling

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

// guard bounds a test step that should finish at once, so that a bug fails
// the test instead of hanging it.
const guard = 5 * time.Second

// pipe returns a Conn and the raw far end of an in-memory connection.
func pipe(t *testing.T, opts ConnOptions) (*Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	c := NewConn(a, opts)
	t.Cleanup(func() { _ = c.Close(); _ = b.Close() })
	return c, b
}

// frame returns payload behind a header announcing size bytes.
func frame(size uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	return append(b, payload...)
}

// writeAsync writes chunks to w in order from another goroutine, then closes
// w if closeAfter; the returned channel yields the first write error.
func writeAsync(w net.Conn, closeAfter bool, chunks ...[]byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		var err error
		for _, c := range chunks {
			if _, err = w.Write(c); err != nil {
				break
			}
		}
		if closeAfter {
			_ = w.Close()
		}
		done <- err
	}()
	return done
}

func guarded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	t.Cleanup(cancel)
	return ctx
}

func TestConnRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a, ConnOptions{}), NewConn(b, ConnOptions{})
	defer ca.Close()
	defer cb.Close()
	ctx := guarded(t)
	for _, m := range fixtures() {
		errc := make(chan error, 1)
		go func() { errc <- ca.Send(ctx, m) }()
		got, err := cb.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("Send: %v", err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("got %+v, want %+v", got, m)
		}
	}
	if ap := ca.RemoteAddr(); ap.IsValid() {
		t.Errorf("RemoteAddr over net.Pipe = %v, want zero", ap)
	}
}

func TestConnConcurrentSenders(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a, ConnOptions{}), NewConn(b, ConnOptions{})
	defer ca.Close()
	defer cb.Close()
	ctx := guarded(t)
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				m := fixtures()[TypeOffer] // the largest: most likely to interleave
				if err := ca.Send(ctx, m); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		})
	}
	for i := range senders * each {
		m, err := cb.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive %d: %v", i, err)
		}
		if m.SDP != testSDP {
			t.Fatalf("Receive %d: corrupted message %+v", i, m)
		}
	}
	wg.Wait()
}

func TestConnBadFrameLength(t *testing.T) {
	for _, size := range []uint32{0, MaxMessageSize + 1, 1<<32 - 1} {
		c, far := pipe(t, ConnOptions{})
		// Only the header is written: reading a body would block until the guard.
		done := writeAsync(far, false, frame(size, nil))
		_, err := c.Receive(guarded(t))
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("size %d: Receive = %v, want ErrFrameTooLarge", size, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err2 := c.Receive(guarded(t)); !errors.Is(err2, ErrFrameTooLarge) {
			t.Errorf("size %d: second Receive = %v, want the same error again", size, err2)
		}
	}
}

func TestConnMaxSizeFrame(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	payload := make([]byte, MaxMessageSize) // the right size, but not JSON
	for i := range payload {
		payload[i] = ' '
	}
	writeAsync(far, false, frame(MaxMessageSize, payload))
	if _, err := c.Receive(guarded(t)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Receive = %v, want ErrMalformed", err)
	}
}

func TestConnEOF(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	_ = far.Close()
	for range 2 {
		if _, err := c.Receive(guarded(t)); err != io.EOF { //nolint:errorlint // the contract is io.EOF itself
			t.Fatalf("Receive = %v, want io.EOF", err)
		}
	}
}

func TestConnCutShort(t *testing.T) {
	good, _ := Encode(fixtures()[TypeRinging])
	for name, chunks := range map[string][][]byte{
		"in header": {{0, 0}},
		"in body":   {frame(uint32(len(good)), good[:10])},
	} {
		t.Run(name, func(t *testing.T) {
			c, far := pipe(t, ConnOptions{})
			writeAsync(far, true, chunks...)
			_, err := c.Receive(guarded(t))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Receive = %v, want io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestConnBadPayloadKeepsStream(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	good, _ := Encode(fixtures()[TypeRinging])
	bad := []byte(`{"v":1,"type":"ringing"}`)
	newer := []byte(`{"v":2,"type":"ringing","call_id":"` + callID + `"}`)
	writeAsync(far, false, frame(uint32(len(bad)), bad), frame(uint32(len(newer)), newer), frame(uint32(len(good)), good))
	ctx := guarded(t)
	if _, err := c.Receive(ctx); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Receive = %v, want ErrMalformed", err)
	}
	if _, err := c.Receive(ctx); !errors.Is(err, ErrVersion) {
		t.Fatalf("Receive = %v, want ErrVersion", err)
	}
	if m, err := c.Receive(ctx); err != nil || m.Type != TypeRinging {
		t.Fatalf("Receive = %+v, %v; want the ringing after the bad frames", m, err)
	}
}

func TestConnReceiveContext(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v, want context.DeadlineExceeded", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := c.Receive(ctx); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive = %v, want context.Canceled", err)
	}

	// Nothing was read, so the connection is still usable.
	good, _ := Encode(fixtures()[TypeAccept])
	writeAsync(far, false, frame(uint32(len(good)), good))
	if m, err := c.Receive(guarded(t)); err != nil || m.Type != TypeAccept {
		t.Fatalf("Receive after cancel = %+v, %v", m, err)
	}
}

func TestConnReceiveTimeoutMidFrameIsSticky(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	good, _ := Encode(fixtures()[TypeAccept])
	done := writeAsync(far, false, frame(uint32(len(good)), good[:5]))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Receive(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v, want context.DeadlineExceeded", err)
	}
	<-done
	writeAsync(far, false, good[5:])
	if _, err2 := c.Receive(guarded(t)); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Receive = %v, want %v again (the stream position is lost)", err2, err)
	}
}

func TestConnSendContext(t *testing.T) {
	c, far := pipe(t, ConnOptions{})
	m := fixtures()[TypeRinging]
	// Nobody reads the far end of the pipe, so the write blocks.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want context.DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	if err := c.Send(cctx, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	// Nothing was written, so the connection is still usable.
	far2 := NewConn(far, ConnOptions{})
	got := make(chan Message, 1)
	rctx := guarded(t)
	go func() { m, _ := far2.Receive(rctx); got <- m }()
	if err := c.Send(guarded(t), m); err != nil {
		t.Fatalf("Send after cancel: %v", err)
	}
	if g := <-got; !reflect.DeepEqual(g, m) {
		t.Fatalf("received %+v, want %+v", g, m)
	}
}

func TestConnWriteTimeout(t *testing.T) {
	c, _ := pipe(t, ConnOptions{WriteTimeout: 20 * time.Millisecond})
	err := c.Send(t.Context(), fixtures()[TypeRinging])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send = %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestConnSendInvalid(t *testing.T) {
	c, _ := pipe(t, ConnOptions{})
	// Invalid messages are refused before anything is written: an unread pipe
	// would block a write until the guard.
	if err := c.Send(guarded(t), Message{Version: Version, Type: TypeAccept, CallID: "x"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Send = %v, want ErrMalformed", err)
	}
}

func TestConnCloseAndTCPAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { nc, _ := ln.Accept(); accepted <- nc }()
	want := netip.MustParseAddrPort(ln.Addr().String())
	c, err := Dial(guarded(t), &net.Dialer{}, want, ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	defer server.Close()
	if got := c.RemoteAddr(); got != want {
		t.Errorf("RemoteAddr = %v, want %v", got, want)
	}
	if got, want := NewConn(server, ConnOptions{}).RemoteAddr(), netip.MustParseAddrPort(server.RemoteAddr().String()); got != want {
		t.Errorf("server side RemoteAddr = %v, want %v", got, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v, want the first result (nil)", err)
	}
	if _, err := c.Receive(guarded(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive after Close = %v, want net.ErrClosed", err)
	}
}

func TestDialErrors(t *testing.T) {
	ctx := guarded(t)
	if _, err := Dial(ctx, nil, netip.MustParseAddrPort("127.0.0.1:1"), ConnOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Dial with nil dialer = %v, want ErrConfig", err)
	}
	if _, err := Dial(ctx, &net.Dialer{}, netip.AddrPort{}, ConnOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Dial to zero address = %v, want ErrConfig", err)
	}
	// A port nobody listens on: take one and release it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	_ = ln.Close()
	if _, err := Dial(ctx, &net.Dialer{}, addr, ConnOptions{}); err == nil {
		t.Errorf("Dial to closed port succeeded")
	}
}
