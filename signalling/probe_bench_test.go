package signalling

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/lokicall/lokicall/lokinet"
)

// BenchmarkProbeRoundTrip measures what a probe costs over loopback TCP on
// top of the network itself: "baseline-raw-echo" echoes a frame of the
// same size with no encoding or checks, "probe" is a probe answered by a
// Server. The ratio of the two is the signalling's own share of a ping's
// round trip (on Lokinet the path's round trip dwarfs both).
func BenchmarkProbeRoundTrip(b *testing.B) {
	payload, err := Encode(Message{Version: Version, Type: TypeProbe, CallID: callID})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-raw-echo", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		frame := make([]byte, frameHeaderLen+len(payload))
		binary.BigEndian.PutUint32(frame, uint32(len(payload)))
		copy(frame[frameHeaderLen:], payload)
		back := make([]byte, len(frame))
		b.ResetTimer()
		for b.Loop() {
			if _, err := c.Write(frame); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, back); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("probe", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := &Server{
			Listener:  ln,
			Identify:  func(context.Context, netip.Addr) (lokinet.Address, error) { return lokinet.ParseAddress(alice) },
			Handle:    func(_ context.Context, in *Incoming) { _ = in.Conn.Close() },
			Probe:     func(context.Context, lokinet.Address) string { return "" },
			MaxProbes: 1 << 30,
		}
		go func() { _ = s.Serve(ctx) }()
		c, err := Dial(ctx, &net.Dialer{}, netip.MustParseAddrPort(ln.Addr().String()), ConnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ResetTimer()
		for b.Loop() {
			id := NewCallID()
			if err := c.Send(ctx, Message{Version: Version, Type: TypeProbe, CallID: id}); err != nil {
				b.Fatal(err)
			}
			m, err := c.Receive(ctx)
			if err != nil || m.Type != TypeProbeReply || m.CallID != id {
				b.Fatalf("got %+v, %v", m, err)
			}
		}
	})
}
