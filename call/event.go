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
	// EventInterruption reports that audio from the peer stopped for longer
	// than Config.InterruptAfter (phase "started") and that it came back
	// (phase "ended", with the gap's length).
	EventInterruption EventKind = "interruption"
)

// Interruption phases.
const (
	InterruptionStarted = "started"
	InterruptionEnded   = "ended"
)

// Interruption describes an interruption event. Durations are in
// milliseconds.
type Interruption struct {
	// Phase is InterruptionStarted or InterruptionEnded.
	Phase string `json:"phase"`
	// SilentMS, on started, is how long nothing has arrived from the peer.
	SilentMS float64 `json:"silent_ms,omitempty"`
	// GapMS, on ended, is the time between the last packet of audio before
	// the interruption and the first one after it.
	GapMS float64 `json:"gap_ms,omitempty"`
	// RecoveryRTTs, on ended, is the time from the path's return as this
	// side can tell it (the first packet of any kind on the media socket
	// after the silence: an ICE check, DTLS or RTP) to the first packet of
	// audio, in path round trips (Stats.PathRTTMS). 0 means the audio came
	// back with the path itself; it is omitted when unknown.
	RecoveryRTTs *float64 `json:"recovery_rtts,omitempty"`
}

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

	Interruption *Interruption `json:"interruption,omitempty"`
	// By, on the ended state, says which side ended the call: EndedByLocal
	// (this side hung up, rejected or gave up) or EndedByPeer (the peer's
	// hangup, reject or busy). Empty when neither did (a lost connection).
	By string `json:"by,omitempty"`
}

// Values of Event.By.
const (
	EndedByLocal = "local"
	EndedByPeer  = "peer"
)

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
