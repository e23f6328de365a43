//go:build !linux

package signalling

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available:
// keepalive alone notices a dead connection.
func setUserTimeout(*net.TCPConn, time.Duration) error { return nil }
