package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"time"

	"github.com/lokicall/lokicall/call"
)

// LokicallStats is the "stats" event of lokicall --json.
type LokicallStats = call.Stats

// LiveSample is one "live" event of lokicall --json, about once a second
// while audio flows, with the event's time. RTTMS is a round trip (RTCP).
type LiveSample struct {
	Time time.Time `json:"time"`
	call.LiveStats
}

// event is one line of lokicall --json.
type event struct {
	Time    time.Time      `json:"time"`
	Kind    string         `json:"event"`
	State   string         `json:"state"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Stats   *LokicallStats `json:"stats"`
	Live    *LiveSample    `json:"live"`

	Interruption *call.Interruption `json:"interruption"`
}

// InterruptionEvent is an "interruption" event of lokicall --json (audio
// from the peer missing for over a second, and its return), with its time.
type InterruptionEvent struct {
	Time time.Time `json:"time"`
	call.Interruption
}

// Side is what one lokicall process reported.
type Side struct {
	Node   string         `json:"node"` // compose service, or "host" for loopback
	Exit   int            `json:"exit"`
	Reason string         `json:"reason"`
	Error  string         `json:"error,omitempty"`
	Stats  *LokicallStats `json:"stats,omitempty"`
	// States maps each state to when it was entered.
	States map[string]time.Time `json:"states"`
	// Live holds the "live" events in order.
	Live []LiveSample `json:"live,omitempty"`
	// Exposure is when the ip-exposure event came (zero if none).
	Exposure time.Time `json:"ip_exposure,omitzero"`
	// Events are the interruption events in order.
	Events []InterruptionEvent `json:"interruptions,omitempty"`
}

// parseSide reads a lokicall process's JSON events; a file that cannot be
// read gives an empty Side.
func parseSide(eventsPath string) Side {
	s, _ := ReadSide(eventsPath)
	return s
}

// ReadSide reads a lokicall process's JSON events (a --json stream).
func ReadSide(eventsPath string) (Side, error) {
	s := Side{States: map[string]time.Time{}}
	b, err := os.ReadFile(eventsPath)
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Kind {
		case "state":
			if _, ok := s.States[ev.State]; !ok {
				s.States[ev.State] = ev.Time
			}
			if ev.State == "ended" {
				s.Reason = ev.Reason
			}
		case "stats":
			s.Stats = ev.Stats
		case "live":
			if ev.Live != nil {
				l := *ev.Live
				l.Time = ev.Time
				s.Live = append(s.Live, l)
			}
		case "interruption":
			if ev.Interruption != nil {
				s.Events = append(s.Events, InterruptionEvent{Time: ev.Time, Interruption: *ev.Interruption})
			}
		case "ip-exposure":
			if s.Exposure.IsZero() {
				s.Exposure = ev.Time
			}
		case "error":
			s.Error = ev.Message
		}
	}
	return s, nil
}

// liveRTTs returns the non-zero RTCP round trips of the live events.
func liveRTTs(l []LiveSample) []float64 {
	var v []float64
	for _, x := range l {
		if x.RTTMS > 0 {
			v = append(v, x.RTTMS)
		}
	}
	return v
}

// WaitForLine polls path until it contains substr, done closes or timeout
// passes, and reports whether it found substr.
func WaitForLine(done <-chan struct{}, path string, substr []byte, timeout time.Duration) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, substr) {
			return true
		}
		select {
		case <-done:
			return false
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}
