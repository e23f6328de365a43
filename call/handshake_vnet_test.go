package call

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
)

// finalFlightDropper drops, on the way to one address, every datagram that
// carries a DTLS ChangeCipherSpec record to the first port seen there: the
// DTLS server's final flight (ChangeCipherSpec, Finished) never reaches the
// client on that media path, so the server side completes its handshake and
// the client side never does, the one-sided call a lossy onion path made.
type finalFlightDropper struct {
	to      string
	mu      sync.Mutex
	port    int
	dropped int
}

func (d *finalFlightDropper) filter(c vnet.Chunk) bool {
	dst, ok := c.DestinationAddr().(*net.UDPAddr)
	if !ok || dst.IP.String() != d.to {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.port == 0 {
		d.port = dst.Port
	}
	if dst.Port != d.port || !hasChangeCipherSpec(c.UserData()) {
		return true
	}
	d.dropped++
	return false
}

// hasChangeCipherSpec reports whether a datagram holds DTLS records (first
// byte 20–63, RFC 7983) and one of them is a ChangeCipherSpec.
func hasChangeCipherSpec(b []byte) bool {
	for len(b) >= 13 {
		if b[0] < 20 || b[0] > 63 {
			return false
		}
		if b[0] == 20 {
			return true
		}
		n := 13 + int(binary.BigEndian.Uint16(b[11:13]))
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return false
}

// TestFinalHandshakeFlightLost: the caller's last DTLS flight never reaches
// the callee on the first media path, so the caller's handshake completes
// and the callee's does not. The call still connects on both sides (the
// caller, hearing nothing, rebuilds the media path with a new handshake),
// neither side says active before it hears the other, the audio flows both
// ways, and the callee does not report the accepted call as missed.
func TestFinalHandshakeFlightLost(t *testing.T) {
	alice, bob := newPeers(t, "127.77.26.1", "127.77.26.2")
	drop := &finalFlightDropper{to: "10.77.3.2"}
	nets := vnetPath(t, alice, bob, "10.77.3", 20*time.Millisecond, 0, drop.filter)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var bobStats *Stats
	bcfg := bob.config("tone:660", "null", 0)
	bcfg.Net = nets[bob]
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: 17833, Accept: AcceptAll, MaxCalls: 1,
		OnCallEnd: func(st *Stats, _ error) { bobStats = st }})
	acfg := alice.config("tone:440", "null", 6*time.Second)
	acfg.Net = nets[alice]
	st, err := Dial(ctx, acfg, bob.target(17833))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	berr := <-done
	if errors.Is(berr, ErrCallerHungUp) || IncomingOutcome(berr, "") == OutcomeMissed {
		t.Fatalf("callee reports the accepted call as missed: %v", berr)
	}
	if berr != nil {
		t.Fatalf("callee: %v", berr)
	}
	drop.mu.Lock()
	dropped := drop.dropped
	drop.mu.Unlock()
	if dropped == 0 {
		t.Fatal("no final handshake flight was dropped: the test did not test anything")
	}
	actives := map[string]time.Time{}
	for _, p := range []struct {
		name string
		peer *peer
		st   *Stats
	}{{"caller", alice, st}, {"callee", bob, bobStats}} {
		if p.st == nil || p.st.PacketsReceived < 100 || p.st.FramesPlayed < 100 {
			t.Errorf("%s: stats %+v; want audio received and played", p.name, p.st)
			continue
		}
		n := 0
		p.peer.mu.Lock()
		for _, ev := range p.peer.evs {
			if ev.Kind == EventState && ev.State == StateActive {
				if n == 0 {
					actives[p.name] = ev.Time
				}
				n++
			}
		}
		p.peer.mu.Unlock()
		if n != 1 {
			t.Errorf("%s: active %d times, want once", p.name, n)
		}
		t.Logf("%s: %d packets received, %d frames played, %d restarts", p.name, p.st.PacketsReceived, p.st.FramesPlayed, p.st.Recoveries)
	}
	// Active means both hear each other, so both sides say it at about the
	// same time; a side that went active on its own handshake alone would
	// say it seconds before the other.
	if a, b := actives["caller"], actives["callee"]; !a.IsZero() && !b.IsZero() {
		if d := a.Sub(b); d < -1500*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("caller active %v apart from the callee; want both once audio flows both ways", d)
		}
	}
	t.Logf("dropped %d datagrams of the final flight", dropped)
}
