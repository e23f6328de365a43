package leak

import (
	"errors"
	"fmt"
	"net/netip"
)

// Defaults.
const (
	// DefaultTable is the nftables table (family inet) the counters live in.
	DefaultTable = "lokicall_leak"
	// DefaultUID is the uid lokicall runs under in the testnet.
	DefaultUID = 7787
	// DefaultInterface is Lokinet's interface.
	DefaultInterface = "lokitun0"
)

// DefaultResolver is Lokinet's DNS address on Linux.
var DefaultResolver = netip.MustParseAddr("127.3.2.1")

// ErrUnsupported is returned where nftables is not available (not Linux).
var ErrUnsupported = errors.New("leak: nftables counters need Linux")

// ErrNotInstalled is returned by Read when the table does not exist.
var ErrNotInstalled = errors.New("leak: counters not installed")

// Config says whose packets are counted and what is allowed. Zero fields
// mean the defaults above.
type Config struct {
	Table     string
	UID       uint32
	Interface string
	// Resolver is Lokinet's DNS address; packets from the uid to it
	// through loopback are counted as allowed.
	Resolver netip.Addr
}

func (c Config) withDefaults() Config {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.UID == 0 {
		c.UID = DefaultUID
	}
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if !c.Resolver.IsValid() {
		c.Resolver = DefaultResolver
	}
	return c
}

// Count is one counter.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Counts are the uid's packets since Install, by where they went.
type Counts struct {
	UID uint32 `json:"uid"`
	// Lokinet: into the Lokinet interface.
	Lokinet Count `json:"lokinet"`
	// Resolver: to Lokinet's DNS address over loopback.
	Resolver Count `json:"resolver"`
	// Leaked: anywhere else. Anything here fails the leak proof.
	Leaked Count `json:"leaked"`
}

// Leak reports whether any packet went outside Lokinet.
func (c Counts) Leak() bool { return c.Leaked.Packets > 0 }

// String is a one-line summary.
func (c Counts) String() string {
	return fmt.Sprintf("uid %d: %d packets into Lokinet, %d to its resolver, %d leaked (%d bytes)",
		c.UID, c.Lokinet.Packets, c.Resolver.Packets, c.Leaked.Packets, c.Leaked.Bytes)
}

// rule tags, kept in each rule's user data.
const (
	tagLokinet  = "lokinet"
	tagResolver = "resolver"
	tagLeaked   = "leaked"
)
