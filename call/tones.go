package call

import (
	"errors"
	"time"

	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/signalling"
	"github.com/lokicall/lokicall/tones"
)

// endToneFor is how long the busy or declined tone plays before the call's
// end is reported: a few cadence cycles, as a telephone exchange gives.
const endToneFor = 3 * time.Second

// The tones of a plan, as playTone picks them.
func ringTone(p *tones.Plan) tones.Tone     { return p.Ring }
func ringbackTone(p *tones.Plan) tones.Tone { return p.Ringback }
func busyTone(p *tones.Plan) tones.Tone     { return p.Busy }
func declinedTone(p *tones.Plan) tones.Tone { return p.Declined }

// tonePlayback is a tone playing on the output device.
type tonePlayback struct {
	stop, done chan struct{}
}

// playTone starts the tone pick chooses from the plan on the output device,
// replacing any tone playing; without tones or a device it does nothing.
func (s *session) playTone(pick func(*tones.Plan) tones.Tone) {
	s.stopTone()
	if s.toneOut == nil {
		return
	}
	t := &tonePlayback{stop: make(chan struct{}), done: make(chan struct{})}
	s.tone = t
	player, out := tones.NewPlayer(pick(s.cfg.Tones)), s.toneOut
	go func() {
		defer close(t.done)
		// The device plays at its own rate from a ring buffer; one frame
		// per frame time keeps that buffer at about a frame.
		frame := make([]int16, media.SampleRate/50)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			player.Fill(frame)
			if err := out.WriteFrame(frame); err != nil {
				s.log.Debug("tone stopped", "err", err)
				return
			}
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// stopTone stops the tone playing, if any, and waits until it no longer
// writes to the device (the call's audio follows).
func (s *session) stopTone() {
	if s.tone == nil {
		return
	}
	close(s.tone.stop)
	<-s.tone.done
	s.tone = nil
}

// playEndTone plays, for endToneFor, the tone that tells a caller why its
// call ended: busy, or declined when the callee refused it.
func (s *session) playEndTone(e ending) {
	if s.role != signalling.Caller || !e.fromPeer || s.toneOut == nil {
		return
	}
	var pick func(*tones.Plan) tones.Tone
	switch {
	case errors.Is(e.err, ErrBusy):
		pick = busyTone
	case errors.Is(e.err, ErrRejected) && e.reason != signalling.ReasonTimeout:
		pick = declinedTone
	default:
		return
	}
	s.log.Info("playing the end tone", "reason", e.reason)
	s.playTone(pick)
	time.Sleep(endToneFor)
	s.stopTone()
}
