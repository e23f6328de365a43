package call

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
)

// pathGap is the silence on the media socket after which the next packet of
// any kind counts as the path's return.
const pathGap = 500 * time.Millisecond

// inboundWatch notes when packets of any kind (STUN checks, DTLS, RTP,
// RTCP) arrive on the call's media sockets, so that the call can tell when
// an interrupted path came back, before its audio does.
type inboundWatch struct {
	last atomic.Int64 // unix nanoseconds of the latest packet
	back atomic.Int64 // unix nanoseconds of the first packet after a gap
}

func (w *inboundWatch) note() {
	now := time.Now().UnixNano()
	if prev := w.last.Swap(now); prev != 0 && time.Duration(now-prev) > pathGap {
		w.back.Store(now)
	}
}

// returnedAfter returns when the path last came back, if that was after t.
func (w *inboundWatch) returnedAfter(t time.Time) (time.Time, bool) {
	b := w.back.Load()
	if b == 0 || b < t.UnixNano() {
		return time.Time{}, false
	}
	return time.Unix(0, b), true
}

// watchedNet is a network stack whose UDP sockets report their inbound
// packets to an inboundWatch.
type watchedNet struct {
	transport.Net
	w *inboundWatch
}

// ListenUDP opens a socket of the wrapped stack that reports to the watch.
func (n watchedNet) ListenUDP(network string, l *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, l)
	if err != nil {
		return nil, err
	}
	return watchedConn{UDPConn: c, w: n.w}, nil
}

type watchedConn struct {
	transport.UDPConn
	w *inboundWatch
}

func (c watchedConn) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if n > 0 {
		c.w.note()
	}
	return n, err
}

func (c watchedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.UDPConn.ReadFrom(b)
	if n > 0 {
		c.w.note()
	}
	return n, a, err
}

func (c watchedConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.UDPConn.ReadFromUDP(b)
	if n > 0 {
		c.w.note()
	}
	return n, a, err
}

func (c watchedConn) ReadMsgUDP(b, oob []byte) (int, int, int, *net.UDPAddr, error) {
	n, oobn, flags, a, err := c.UDPConn.ReadMsgUDP(b, oob)
	if n > 0 {
		c.w.note()
	}
	return n, oobn, flags, a, err
}
