package signalling

import (
	"net"
	"time"
)

// DeadAfter is how long a signalling connection may fail to get its data
// or keepalive probes acknowledged before the kernel gives it up, so that a
// connection whose path died silently (no reset, no FIN) is noticed.
const DeadAfter = 15 * time.Second

// keepAlive probes an idle connection: after keepAliveIdle without traffic,
// every keepAliveInterval; sooner for a shorter DeadAfter (see keepAlive).
const (
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 3 * time.Second
)

// watchTCP turns on keepalive probes on a TCP connection and bounds how
// long unacknowledged data or probes may go unanswered (deadAfter, where
// the platform allows: see setUserTimeout). Other connections are left
// alone.
func watchTCP(c net.Conn, deadAfter time.Duration) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	if err := tc.SetKeepAliveConfig(keepAlive(deadAfter)); err != nil {
		return err
	}
	return setUserTimeout(tc, deadAfter)
}

// keepAlive is the probing that notices an idle connection dead about
// deadAfter after the last packet heard: the first probe after a third of
// it, then one every fifth (the kernel counts whole seconds), at most
// keepAliveIdle and keepAliveInterval.
func keepAlive(deadAfter time.Duration) net.KeepAliveConfig {
	idle := min(keepAliveIdle, max(time.Second, deadAfter/3))
	interval := min(keepAliveInterval, max(time.Second, deadAfter/5))
	return net.KeepAliveConfig{Enable: true, Idle: idle, Interval: interval,
		Count: max(1, int((deadAfter-idle)/interval)+1)}
}
