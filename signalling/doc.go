// Package signalling is the call protocol between two lokicall peers: JSON
// messages in length-prefixed frames over a TCP connection that runs through
// Lokinet, the call state machine, and a listener that identifies callers by
// their Lokinet source address rather than by anything they claim.
//
// Peers are named only by .loki addresses. Raw Lokinet IPs are local to each
// node and never appear in a message: ICE candidates carry the sender's .loki
// name and a port, and each side resolves the name itself.
package signalling
