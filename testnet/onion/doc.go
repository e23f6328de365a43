// Package onion is the emulated onion network of the lokicall testnet: a
// directory where relays register and nodes publish introductions, relays that
// forward layered-encrypted packets over UDP with configurable link
// emulation (delay, jitter, loss), and the node-side endpoint that builds
// paths, probes them, rebuilds them when a relay dies and exchanges
// end-to-end encrypted packets with other nodes.
//
// The shape follows Lokinet 0.9 closely enough for a client not to tell the
// difference at the IP level: a packet from node A to node B goes down A's
// path of relays, across to B's introduction relay (the last hop of B's
// path) and up B's path to B. Each relay shares a key with the node that
// built the path through it (x25519 key agreement, XChaCha20-Poly1305) and
// sees only its two neighbours and ciphertext.
//
// It is not Lokinet's wire protocol, and it makes no attempt at resisting
// traffic analysis (packet sizes shrink by one tag per hop; lookups and
// introductions are published straight to the directory).
package onion
