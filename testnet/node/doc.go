// Package node is the node role of the emulated Lokinet: what a client
// process such as lokicall sees of the local Lokinet daemon. It creates the
// TUN interface (lokitun0, 172.16.0.1/16), answers DNS on 127.3.2.1:53 the
// way Lokinet 0.9 does, keeps a persistent ed25519 identity, gives every
// remote node an address of its own range and carries IP packets to and
// from other nodes through an onion.Endpoint, rewriting addresses and
// checksums the way Lokinet does so that ports pass unchanged.
package node
