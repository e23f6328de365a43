// Package netnstest moves a test into a network namespace of its own, with
// its loopback up, for tests that change firewall rules or links without
// touching the host's, and makes TUN interfaces like Lokinet's there.
package netnstest
