// Package e2e holds the end-to-end test of the emulated onion network: a
// directory, relays and two nodes, each in a network namespace of its own
// joined by a bridge, with real TUN interfaces and the node DNS, exercised
// by UDP round trips across 172.16.0.x in both directions. It needs root
// and skips itself otherwise.
package e2e
