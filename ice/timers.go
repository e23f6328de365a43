package ice

import "time"

// Timers are the ICE and DTLS timers of a call. pion's defaults were built for
// the open internet (ICE disconnected after 5 s, failed after 25 s, a pair
// given up after 7 binding requests sent 200 ms apart, DTLS flights resent
// after 1 s). Onion paths have round trips of 250 ms and more with spikes past
// 1 s and a stall of about 400 ms whenever Lokinet replaces a session, so the
// onion values below give every step several round trips of slack.
type Timers struct {
	// Disconnected is how long without traffic before ICE reports
	// disconnected.
	Disconnected time.Duration
	// Failed is how long without traffic before ICE gives up.
	Failed time.Duration
	// KeepAlive is the interval of consent and keepalive binding requests.
	KeepAlive time.Duration
	// MaxBindingRequests is how many unanswered checks fail a candidate pair.
	MaxBindingRequests uint16
	// DTLSRetransmit is the DTLS handshake flight retransmission interval.
	DTLSRetransmit time.Duration
}

// OnionTimers returns the timers for onion mode.
//
//   - Disconnected 8 s, Failed 30 s: a 1–2 s spike or a Lokinet session
//     replacement must not end a call; 30 s matches the time Lokinet itself
//     allows a path lookup.
//   - KeepAlive 2 s: consent checks cost one small packet each and keep the
//     Lokinet session warm; pion's default is kept.
//   - MaxBindingRequests 25: checks go out every 200 ms, so a pair survives
//     5 s of silence during setup instead of 1.4 s, several onion round trips.
//   - DTLSRetransmit 1.5 s: longer than a typical path round trip with its
//     spikes, so a slow path does not trigger spurious retransmission storms,
//     yet a lost flight costs at most one and a half seconds.
func OnionTimers() Timers {
	return Timers{
		Disconnected:       8 * time.Second,
		Failed:             30 * time.Second,
		KeepAlive:          2 * time.Second,
		MaxBindingRequests: 25,
		DTLSRetransmit:     1500 * time.Millisecond,
	}
}

// withDefaults fills zero fields from the mode's defaults.
func (t Timers) withDefaults(mode Mode) Timers {
	d := OnionTimers()
	_ = mode // every mode currently shares the onion timers
	if t.Disconnected == 0 {
		t.Disconnected = d.Disconnected
	}
	if t.Failed == 0 {
		t.Failed = d.Failed
	}
	if t.KeepAlive == 0 {
		t.KeepAlive = d.KeepAlive
	}
	if t.MaxBindingRequests == 0 {
		t.MaxBindingRequests = d.MaxBindingRequests
	}
	if t.DTLSRetransmit == 0 {
		t.DTLSRetransmit = d.DTLSRetransmit
	}
	return t
}
