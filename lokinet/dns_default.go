//go:build !linux

package lokinet

// defaultDNSAddr is where Lokinet's DNS server listens outside Linux.
const defaultDNSAddr = "127.0.0.1:53"
