// Package lokinet is the local Lokinet daemon as a client sees it: node
// addresses, its DNS server (names, own identity, reverse lookups) and its TUN
// interface and address range.
package lokinet
