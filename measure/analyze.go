package measure

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/lokicall/lokicall/media"
)

// OpusLookahead is the Opus encoder's look-ahead at 48 kHz (RFC 6716 §2:
// 2.5 ms of CELT overlap plus 4 ms of SILK resampler and analysis delay),
// which together with one frame makes its algorithmic delay.
const OpusLookahead = 6500 * time.Microsecond

// OpusAlgorithmicDelay returns the Opus algorithmic delay at a frame
// duration: the frame plus OpusLookahead (26.5 ms at 20 ms frames).
func OpusAlgorithmicDelay(frame time.Duration) time.Duration { return frame + OpusLookahead }

// Click is one click found in the output.
type Click struct {
	Index int           // which click of the train
	Delay time.Duration // mouth to ear: played minus captured
	Score float64       // normalized cross-correlation, 0..1
	// Captured is when the click's first sample was captured, on the
	// stamps' clock; it played at Captured + Delay.
	Captured time.Time
}

// Result is the outcome of Analyze.
type Result struct {
	Clicks []Click // in order of Index
	// Missing counts clicks captured between the first and last found
	// one that were not found in the output (lost or concealed away).
	Missing int
	// Extra counts correlation peaks that matched an already found click
	// (a click repeated by concealment).
	Extra int
}

// Delays returns the delays of the clicks from index from on.
func (r Result) Delays(from int) []time.Duration {
	var d []time.Duration
	for _, c := range r.Clicks {
		if c.Index >= from {
			d = append(d, c.Delay)
		}
	}
	return d
}

// Summary is a few order statistics of delays.
type Summary struct {
	N                     int
	Min, Median, P90, Max time.Duration
}

// Summarize returns the order statistics of ds (zero for none).
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[int(math.Round(p*float64(len(s)-1)))] }
	return Summary{N: len(s), Min: s[0], Median: at(0.5), P90: at(0.9), Max: s[len(s)-1]}
}

// ErrNoClicks reports that no click could be found or placed in time.
var ErrNoClicks = errors.New("measure: no clicks found")

// minScore is the normalized cross-correlation a click must reach.
const minScore = 0.6

// Analyze finds the clicks of a train shaped by cfg in output (the audio as
// played) by normalized cross-correlation with the click template and
// returns each click's mouth-to-ear delay: its playout time (from playout
// stamps, which cover output from sample 0) minus its capture time (from
// capture stamps of the train's source stream). Each peak is matched to the
// latest click captured before it played, so delays must stay under one
// click period.
func Analyze(cfg ClickConfig, capture []Stamp, output []int16, playout []Stamp) (Result, error) {
	cfg = cfg.withDefaults()
	if len(capture) == 0 || len(playout) == 0 {
		return Result{}, fmt.Errorf("%w: no stamps", ErrNoClicks)
	}
	// Capture time of every click the stamps cover.
	var capTimes []time.Time
	for k := 0; ; k++ {
		t, ok := captureTime(capture, cfg.Position(k))
		if !ok {
			break
		}
		capTimes = append(capTimes, t)
	}
	if len(capTimes) == 0 {
		return Result{}, fmt.Errorf("%w: capture stamps end before the first click", ErrNoClicks)
	}
	var res Result
	found := map[int]bool{}
	for _, pk := range findPeaks(cfg.Template(), output, int(samples(cfg.Period)/2)) {
		played, ok := playTime(playout, int64(pk.at))
		if !ok {
			continue
		}
		k := sort.Search(len(capTimes), func(i int) bool { return capTimes[i].After(played) }) - 1
		if k < 0 {
			continue
		}
		if found[k] {
			res.Extra++
			continue
		}
		found[k] = true
		res.Clicks = append(res.Clicks, Click{Index: k, Delay: played.Sub(capTimes[k]), Score: pk.score, Captured: capTimes[k]})
	}
	if len(res.Clicks) == 0 {
		return Result{}, fmt.Errorf("%w in %d samples of output", ErrNoClicks, len(output))
	}
	slices.SortFunc(res.Clicks, func(a, b Click) int { return a.Index - b.Index })
	first, last := res.Clicks[0].Index, res.Clicks[len(res.Clicks)-1].Index
	res.Missing = last - first + 1 - len(res.Clicks)
	return res, nil
}

// AnalyzeFiles is Analyze on files written by two processes on one host:
// the caller's capture stamps, the callee's WAV recording of its playout
// and that recording's playout stamps (by default at SidecarPath(wav)).
func AnalyzeFiles(cfg ClickConfig, captureStamps, wav, playoutStamps string) (Result, error) {
	read := func(path string) ([]Stamp, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("measure: %w", err)
		}
		defer f.Close()
		return ReadStamps(f)
	}
	capture, err := read(captureStamps)
	if err != nil {
		return Result{}, err
	}
	playout, err := read(playoutStamps)
	if err != nil {
		return Result{}, err
	}
	pcm, rate, err := media.ReadWAV(wav)
	if err != nil {
		return Result{}, fmt.Errorf("measure: %w", err)
	}
	if rate != media.SampleRate {
		return Result{}, fmt.Errorf("measure: %s is %d Hz, want %d", wav, rate, media.SampleRate)
	}
	return Analyze(cfg, capture, pcm, playout)
}

// captureTime returns when source sample p was captured: its frame's stamp
// minus the samples after it in the frame.
func captureTime(stamps []Stamp, p int64) (time.Time, bool) {
	i := sort.Search(len(stamps), func(i int) bool { return stamps[i].Sample+int64(stamps[i].Samples) > p })
	if i == len(stamps) || stamps[i].Sample > p {
		return time.Time{}, false
	}
	s := stamps[i]
	after := s.Sample + int64(s.Samples) - p
	return s.Time.Add(-time.Duration(after) * time.Second / media.SampleRate), true
}

// playTime returns when output sample q was played: its frame's stamp plus
// its offset in the frame.
func playTime(stamps []Stamp, q int64) (time.Time, bool) {
	i := sort.Search(len(stamps), func(i int) bool { return stamps[i].Sample+int64(stamps[i].Samples) > q })
	if i == len(stamps) || stamps[i].Sample > q {
		return time.Time{}, false
	}
	s := stamps[i]
	return s.Time.Add(time.Duration(q-s.Sample) * time.Second / media.SampleRate), true
}

// peak is a correlation peak.
type peak struct {
	at    int
	score float64
}

// findPeaks returns the positions in out where tmpl correlates best, one per
// stretch of minGap samples, with normalized score at least minScore.
func findPeaks(tmpl, out []int16, minGap int) []peak {
	n := len(tmpl)
	if n == 0 || len(out) < n {
		return nil
	}
	var tEnergy float64
	for _, v := range tmpl {
		tEnergy += float64(v) * float64(v)
	}
	tNorm := math.Sqrt(tEnergy)
	// Windows far quieter than the click cannot hold one.
	floor := tEnergy * 1e-3
	var wEnergy float64
	for _, v := range out[:n] {
		wEnergy += float64(v) * float64(v)
	}
	var peaks []peak
	for q := 0; q+n <= len(out); q++ {
		if q > 0 {
			a, b := float64(out[q-1]), float64(out[q+n-1])
			wEnergy += b*b - a*a
		}
		if wEnergy < floor {
			continue
		}
		var dot float64
		for i, v := range tmpl {
			dot += float64(v) * float64(out[q+i])
		}
		score := dot / (tNorm * math.Sqrt(wEnergy))
		if score < minScore {
			continue
		}
		if len(peaks) > 0 && q-peaks[len(peaks)-1].at < minGap {
			if score > peaks[len(peaks)-1].score {
				peaks[len(peaks)-1] = peak{at: q, score: score}
			}
			continue
		}
		peaks = append(peaks, peak{at: q, score: score})
	}
	return peaks
}
