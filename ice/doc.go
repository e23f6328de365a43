// Package ice is lokicall's connectivity policy over pion: which candidates a
// call may gather and accept in each mode, the pion settings that enforce it by
// construction, the translation of candidates to and from .loki names, checks
// on every SDP that crosses the process boundary, and ICE and DTLS timers tuned
// for onion round trips.
//
// In onion mode the only local candidate is one UDP socket bound to the node's
// Lokinet address; remote candidates are accepted only inside the Lokinet range
// and never equal to the node's own address; no STUN, TURN or mDNS traffic is
// possible because none of it is configured.
package ice
