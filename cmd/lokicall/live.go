package main

import (
	"time"

	"github.com/lokicall/lokicall/call"
)

// liveFromCall converts the call package's live snapshot (Config.OnStats)
// to what the status line shows.
func liveFromCall(ls call.LiveStats) liveFigures {
	return liveFigures{
		RTT:          msDuration(ls.RTTMS),
		Jitter:       msDuration(ls.JitterMS),
		JitterBuffer: msDuration(ls.JitterBufferMS),
		LossPercent:  ls.LossPercent,
		MOS:          ls.MOS,
		MicDBFS:      ls.MicLevelDB,
	}
}

// wireLive feeds the status line of screen from the call's live statistics
// and, with --json, streams them as "live" events once a second.
func wireLive(cfg *call.Config, g *globalOptions, screen func() *callScreen) {
	events := cfg.Events
	cfg.OnStats = func(ls call.LiveStats) {
		if g.json && events != nil {
			events(call.Event{Time: time.Now(), Kind: call.EventLive, CallID: ls.CallID, Peer: ls.Peer, Live: &ls})
		}
		if s := screen(); s != nil {
			s.setLive(liveFromCall(ls))
		}
	}
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
