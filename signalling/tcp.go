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
// every keepAliveInterval.
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
	count := max(1, int(deadAfter/keepAliveInterval))
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{
		Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: count,
	}); err != nil {
		return err
	}
	return setUserTimeout(tc, deadAfter)
}
