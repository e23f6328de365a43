// Package call ties one voice call together: the signalling connection over
// Lokinet, the peer connection and its candidate policy, the audio pipeline
// and the statistics, reported as a stream of events.
//
// A call connects ICE and DTLS while the callee is still ringing and starts
// media only once the callee accepts, so that the time from accept to first
// audio is about one onion round trip.
package call
