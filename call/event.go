package call

import "time"

// State is a call's phase as shown to the user.
type State string

// The states of a call in the order a successful call passes through them.
const (
	StateResolving  State = "resolving"  // looking up the peer's name
	StateConnecting State = "connecting" // opening signalling over Lokinet
	StateOffering   State = "offering"   // offer sent, waiting for the callee
	StateIncoming   State = "incoming"   // callee: an offer arrived
	StateRinging    State = "ringing"    // the callee is deciding
	StateAccepted   State = "accepted"   // accepted; media starts when connected
	StateFallback   State = "fallback"   // onion media failed; moving to the opted-in mode
	StateConnected  State = "connected"  // ICE and DTLS up
	StateActive     State = "active"     // audio flowing
	StateEnded      State = "ended"      // over; Reason says why
)

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventState    EventKind = "state"    // a state change
	EventCaller   EventKind = "caller"   // callee: who is calling, from PTR
	EventProgress EventKind = "progress" // a slow step is still going on
	EventStats    EventKind = "stats"    // statistics at the end of a call
	EventError    EventKind = "error"    // something went wrong
	EventListen   EventKind = "listening"
	// EventExposure announces, before any packet leaves through a
	// non-Lokinet interface, that a call uses a mode that exposes the IP.
	EventExposure EventKind = "ip-exposure"
	// EventLive carries a LiveStats snapshot, about once a second while
	// audio flows.
	EventLive EventKind = "live"
)

// Event is one thing that happened during a call, as streamed to --json.
type Event struct {
	Time    time.Time  `json:"time"`
	Kind    EventKind  `json:"event"`
	CallID  string     `json:"call_id,omitempty"`
	State   State      `json:"state,omitempty"`
	Peer    string     `json:"peer,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Message string     `json:"message,omitempty"`
	Address string     `json:"address,omitempty"`
	Stats   *Stats     `json:"stats,omitempty"`
	Mode    string     `json:"mode,omitempty"`
	Live    *LiveStats `json:"live,omitempty"`
}

// Emitter receives events; it must not block for long.
type Emitter func(Event)

func (e Emitter) emit(ev Event) {
	if e == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e(ev)
}
