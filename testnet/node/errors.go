package node

import "errors"

var (
	// ErrRangeFull reports that every address of the node's range is mapped.
	ErrRangeFull = errors.New("node: address range full")
	// ErrNotIPv4 reports a packet that is not a well-formed IPv4 packet.
	ErrNotIPv4 = errors.New("node: not an IPv4 packet")
	// ErrUnsupported reports a platform without TUN support in this package.
	ErrUnsupported = errors.New("node: not supported on this platform")
)

// ErrRestarting reports a restart asked for while one is under way.
var ErrRestarting = errors.New("node: a restart is under way")

// ErrControl reports a control request the node refused.
var ErrControl = errors.New("node: control")
