// Package tones makes the call-progress tones a telephone user expects: the
// ring of an incoming call, the ringback a caller hears while the other side
// rings, and the busy and declined (congestion) tones, with the frequencies
// and cadences of a named national plan or of ITU-T E.180.
package tones

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// SampleRate is the rate of the samples Player makes: the media pipeline's.
const SampleRate = 48000

// Tone is one signal: the sum of its frequencies, switched on and off by its
// cadence.
type Tone struct {
	// Freqs are summed, each at the same level.
	Freqs []float64
	// Cadence alternates on and off times, starting with on, and repeats.
	// Empty means a steady tone.
	Cadence []time.Duration
}

// Period returns the length of one cadence cycle (0 for a steady tone).
func (t Tone) Period() time.Duration {
	var p time.Duration
	for _, d := range t.Cadence {
		p += d
	}
	return p
}

// Plan is the set of tones of one country or standard.
type Plan struct {
	Name string
	// Ring sounds on the callee's own output while a call rings.
	Ring Tone
	// Ringback is what the caller hears while the callee rings.
	Ringback Tone
	// Busy: the callee is in another call.
	Busy Tone
	// Declined: the callee (or its policy) refused the call; the plan's
	// congestion or reorder tone.
	Declined Tone
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// plans are the built-in plans by name.
var plans = map[string]Plan{
	// ITU-T E.180 (1998) §2 recommended values, as most of Europe uses
	// them (ETSI ES 201 970): 425 Hz; ringing 1 s on, 4 s off; busy
	// 0.5 s on, 0.5 s off; congestion 0.25 s on, 0.25 s off.
	"itu": {
		Name:     "itu",
		Ring:     Tone{Freqs: []float64{425}, Cadence: ms(1000, 4000)},
		Ringback: Tone{Freqs: []float64{425}, Cadence: ms(1000, 4000)},
		Busy:     Tone{Freqs: []float64{425}, Cadence: ms(500, 500)},
		Declined: Tone{Freqs: []float64{425}, Cadence: ms(250, 250)},
	},
	// North America (the precise tone plan of ANSI T1.401): ringback
	// 440+480 Hz 2 s on, 4 s off; busy 480+620 Hz 0.5/0.5; reorder
	// 480+620 Hz 0.25/0.25.
	"us": {
		Name:     "us",
		Ring:     Tone{Freqs: []float64{440, 480}, Cadence: ms(2000, 4000)},
		Ringback: Tone{Freqs: []float64{440, 480}, Cadence: ms(2000, 4000)},
		Busy:     Tone{Freqs: []float64{480, 620}, Cadence: ms(500, 500)},
		Declined: Tone{Freqs: []float64{480, 620}, Cadence: ms(250, 250)},
	},
	// United Kingdom (BT SIN 350): ringing 400+450 Hz 0.4 on, 0.2 off,
	// 0.4 on, 2 off; busy 400 Hz 0.375/0.375; congestion 400 Hz 0.4 on,
	// 0.35 off, 0.225 on, 0.525 off.
	"uk": {
		Name:     "uk",
		Ring:     Tone{Freqs: []float64{400, 450}, Cadence: ms(400, 200, 400, 2000)},
		Ringback: Tone{Freqs: []float64{400, 450}, Cadence: ms(400, 200, 400, 2000)},
		Busy:     Tone{Freqs: []float64{400}, Cadence: ms(375, 375)},
		Declined: Tone{Freqs: []float64{400}, Cadence: ms(400, 350, 225, 525)},
	},
}

// Off is the plan name that silences every tone.
const Off = "off"

// Default is the plan used when none is chosen.
const Default = "itu"

// Names lists the plans Lookup knows, and Off.
func Names() []string {
	names := []string{Off}
	for n := range plans {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the plan called name (case-insensitive); "" is Default.
// For Off it returns nil: no tones.
func Lookup(name string) (*Plan, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = Default
	}
	if name == Off {
		return nil, nil
	}
	p, ok := plans[name]
	if !ok {
		return nil, fmt.Errorf("tones: unknown plan %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return &p, nil
}

// level is each tone's peak amplitude: -18 dBFS in all, split between its
// frequencies, below speech so that it never startles.
var level = math.Pow(10, -18.0/20) * 32767

// rampSamples fades each burst in and out (5 ms) so that the cadence does
// not click.
const rampSamples = SampleRate / 200

// Player makes the samples of one tone, continuing across calls to Fill.
type Player struct {
	tone   Tone
	n      int64 // samples made so far
	period int64 // samples per cadence cycle; 0: steady
	edges  []int64
}

// NewPlayer returns a Player of t from its start (the first burst).
func NewPlayer(t Tone) *Player {
	p := &Player{tone: t}
	var at int64
	for _, d := range t.Cadence {
		at += int64(d) * SampleRate / int64(time.Second)
		p.edges = append(p.edges, at)
	}
	p.period = at
	return p
}

// gain returns the cadence envelope, 0 to 1, at sample i.
func (p *Player) gain(i int64) float64 {
	if p.period == 0 {
		return 1
	}
	pos := i % p.period
	start := int64(0)
	for k, end := range p.edges {
		if pos < end {
			if k%2 == 1 {
				return 0
			}
			return min(1, float64(pos-start)/rampSamples, float64(end-pos)/rampSamples)
		}
		start = end
	}
	return 0
}

// Fill writes the next len(pcm) samples of the tone.
func (p *Player) Fill(pcm []int16) {
	amp := level / float64(max(1, len(p.tone.Freqs)))
	for i := range pcm {
		g := p.gain(p.n)
		var v float64
		if g > 0 {
			t := float64(p.n) / SampleRate
			for _, f := range p.tone.Freqs {
				v += math.Sin(2 * math.Pi * f * t)
			}
		}
		pcm[i] = int16(math.Round(amp * g * v))
		p.n++
	}
}
