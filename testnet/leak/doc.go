// Package leak counts the packets that one user's sockets send outside
// Lokinet, with nftables counters in the current network namespace: the
// testnet's leak proof (issue 4).
//
// lokicall runs under a dedicated numeric uid; the emulated Lokinet (like
// real Lokinet) runs as root, so its own relay traffic is not counted. A
// table holds one output chain with three counting rules for that uid:
// packets into the Lokinet interface (expected), packets to Lokinet's
// resolver on loopback (expected: that is Lokinet too), and every other
// packet (a leak). The first two prove the counters see the uid at all, so
// a zero leak count means something.
package leak
