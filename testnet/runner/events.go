package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"time"
)

// LokicallStats mirrors the "stats" event of lokicall --json (README).
type LokicallStats struct {
	SetupMS         float64 `json:"setup_ms"`
	SetupRTTs       float64 `json:"setup_rtts"`
	ConnectMS       float64 `json:"connect_ms"`
	MediaMS         float64 `json:"media_ms"`
	RTTMS           float64 `json:"rtt_ms"`
	ICERTTMS        float64 `json:"ice_rtt_ms"`
	OneWayMS        float64 `json:"one_way_ms"`
	JitterMS        float64 `json:"jitter_ms"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	PacketsLost     int64   `json:"packets_lost"`
	LossPercent     float64 `json:"loss_percent"`
	FramesPlayed    uint64  `json:"frames_played"`
	FramesConcealed uint64  `json:"frames_concealed"`
	FramesRecovered uint64  `json:"frames_recovered"`
	JitterBufferMS  float64 `json:"jitter_buffer_ms"`
	MOS             float64 `json:"mos"`
}

// event is one line of lokicall --json.
type event struct {
	Time    time.Time      `json:"time"`
	Kind    string         `json:"event"`
	State   string         `json:"state"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Stats   *LokicallStats `json:"stats"`
}

// Side is what one lokicall process reported.
type Side struct {
	Exit   int            `json:"exit"`
	Reason string         `json:"reason"`
	Error  string         `json:"error,omitempty"`
	Stats  *LokicallStats `json:"stats,omitempty"`
	// States maps each state to when it was entered.
	States map[string]time.Time `json:"states"`
	// SenderStart and PlayoutStart are when the first frame was read from
	// the source and written to the sink, from lokicall's debug log
	// (millisecond resolution).
	SenderStart  time.Time `json:"sender_start"`
	PlayoutStart time.Time `json:"playout_start"`
}

var debugTime = regexp.MustCompile(`^time=(\S+) level=DEBUG msg="media: (sender started|receiver playout started)"`)

// parseSide reads a lokicall process's JSON events and debug log.
func parseSide(eventsPath, logPath string) Side {
	s := Side{States: map[string]time.Time{}}
	if b, err := os.ReadFile(eventsPath); err == nil {
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
			case "error":
				s.Error = ev.Message
			}
		}
	}
	if b, err := os.ReadFile(logPath); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m := debugTime.FindSubmatch(sc.Bytes())
			if m == nil {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, string(m[1]))
			if err != nil {
				continue
			}
			if string(m[2]) == "sender started" && s.SenderStart.IsZero() {
				s.SenderStart = t
			} else if string(m[2]) == "receiver playout started" && s.PlayoutStart.IsZero() {
				s.PlayoutStart = t
			}
		}
	}
	return s
}

// waitForLine polls path until a line contains substr or ctx ends.
func waitForLine(done <-chan struct{}, path string, substr []byte, timeout time.Duration) bool {
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
