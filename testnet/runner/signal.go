package runner

import (
	"math"
	"math/cmplx"
	"time"
)

// SampleRate is the rate of every signal here, lokicall's (48 kHz).
const SampleRate = 48000

// ChirpTrain describes the caller's test signal: a Hann-windowed linear
// chirp repeated every Period, the first one at Lead. A chirp rather than a
// click: its energy is spread over a band Opus codes well, and its
// autocorrelation still has one sharp peak.
type ChirpTrain struct {
	Period, Length, Lead time.Duration
	F0, F1               float64 // sweep, Hz
	Amplitude            float64 // 0..1 of full scale
}

// DefaultChirpTrain: one 30 ms chirp from 500 Hz to 4 kHz per second, at
// half scale. A period of 1 s lets mouth-to-ear delays up to about 900 ms be
// attributed to the right chirp.
var DefaultChirpTrain = ChirpTrain{Period: time.Second, Length: 30 * time.Millisecond, Lead: 500 * time.Millisecond, F0: 500, F1: 4000, Amplitude: 0.5}

func samples(d time.Duration) int { return int(d.Seconds()*SampleRate + 0.5) }

// Chirp returns one chirp.
func (c ChirpTrain) Chirp() []float64 {
	n := samples(c.Length)
	out := make([]float64, n)
	k := (c.F1 - c.F0) / c.Length.Seconds()
	for i := range out {
		t := float64(i) / SampleRate
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		out[i] = c.Amplitude * w * math.Sin(2*math.Pi*(c.F0*t+k*t*t/2))
	}
	return out
}

// Render returns total of audio holding the train, as 16-bit PCM, and the
// sample offsets where chirps start.
func (c ChirpTrain) Render(total time.Duration) ([]int16, []int) {
	pcm := make([]int16, samples(total))
	chirp := c.Chirp()
	var starts []int
	for s := samples(c.Lead); s+len(chirp) <= len(pcm); s += samples(c.Period) {
		starts = append(starts, s)
		for i, v := range chirp {
			pcm[s+i] = int16(v * 32767)
		}
	}
	return pcm, starts
}

// Detection is one chirp found (or not) in a recording.
type Detection struct {
	Index int // chirp number in the train
	// SourceAt is the chirp's start in the source, from its first sample.
	SourceAt time.Duration
	// Found reports a correlation peak above the threshold; Offset is then
	// where the chirp starts in the recording, Score the normalized peak
	// (1 for a perfect copy).
	Found  bool
	Offset time.Duration
	Score  float64
}

// DetectThreshold is the normalized correlation a chirp must reach to count.
// Opus at 32 kbit/s keeps the chirp's timing but not its waveform: a clean
// call scores about 0.43, noise about 0.03.
const DetectThreshold = 0.3

// Detect finds each chirp of the train (starting at source sample offsets
// starts) in rec. A chirp at source offset s is searched in rec from
// s+shift to s+shift+maxLag, where shift is the recording's start minus the
// source's start in samples, negated (shift = source start − recording
// start): so a chirp's delay must lie in [0, maxLag).
func Detect(rec []int16, chirp []float64, starts []int, shift int, maxLag int) []Detection {
	var out []Detection
	var tEnergy float64
	for _, v := range chirp {
		tEnergy += v * v
	}
	for i, s := range starts {
		d := Detection{Index: i, SourceAt: time.Duration(float64(s) / SampleRate * float64(time.Second))}
		lo := s + shift
		lags := min(maxLag, len(rec)-len(chirp)-lo) // the end of the recording cuts the window short
		if lo < 0 || lags <= 0 {
			out = append(out, d)
			continue
		}
		hi := lo + lags + len(chirp)
		seg := make([]float64, hi-lo)
		for j := range seg {
			seg[j] = float64(rec[lo+j]) / 32768
		}
		corr := xcorr(seg, chirp)
		// Running energy of the segment under the template.
		var e float64
		for j := 0; j < len(chirp); j++ {
			e += seg[j] * seg[j]
		}
		best, bestK := 0.0, -1
		for k := 0; k < lags; k++ {
			if e > 1e-12 {
				if v := corr[k] / math.Sqrt(tEnergy*e); v > best {
					best, bestK = v, k
				}
			}
			e += seg[k+len(chirp)]*seg[k+len(chirp)] - seg[k]*seg[k]
			if e < 0 {
				e = 0
			}
		}
		d.Score = best
		if bestK >= 0 && best >= DetectThreshold {
			d.Found = true
			d.Offset = time.Duration(float64(lo+bestK) / SampleRate * float64(time.Second))
		}
		out = append(out, d)
	}
	return out
}

// xcorr returns c[k] = Σ_j t[j]·x[k+j] for k in [0, len(x)-len(t)], by FFT.
func xcorr(x, t []float64) []float64 {
	n := 1
	for n < len(x)+len(t) {
		n <<= 1
	}
	a := make([]complex128, n)
	b := make([]complex128, n)
	for i, v := range x {
		a[i] = complex(v, 0)
	}
	for i, v := range t {
		b[i] = complex(v, 0)
	}
	fft(a, false)
	fft(b, false)
	for i := range a {
		a[i] *= cmplx.Conj(b[i])
	}
	fft(a, true)
	out := make([]float64, len(x)-len(t)+1)
	for k := range out {
		out[k] = real(a[k]) / float64(n)
	}
	return out
}

// fft is an in-place radix-2 FFT (inverse without the 1/n scaling);
// len(x) must be a power of two.
func fft(x []complex128, inverse bool) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, sign*2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				u, v := x[start+k], x[start+k+size/2]*wk
				x[start+k], x[start+k+size/2] = u+v, u-v
				wk *= w
			}
		}
	}
}

// Gap is a stretch of a recording where the signal is missing.
type Gap struct {
	At, Length time.Duration
}

// FindGaps returns the stretches of at least minLen where the 20 ms frame
// RMS of rec falls below frac of its median: where a steady source (a tone)
// went missing and the receiver concealed or played silence.
func FindGaps(rec []int16, frac float64, minLen time.Duration) []Gap {
	const frame = SampleRate / 50
	var rms []float64
	for i := 0; i+frame <= len(rec); i += frame {
		var e float64
		for _, v := range rec[i : i+frame] {
			e += float64(v) * float64(v)
		}
		rms = append(rms, math.Sqrt(e/frame))
	}
	if len(rms) == 0 {
		return nil
	}
	sorted := append([]float64(nil), rms...)
	sortFloats(sorted)
	thr := frac * sorted[len(sorted)/2]
	var gaps []Gap
	start := -1
	flush := func(end int) {
		if start >= 0 {
			g := Gap{At: time.Duration(start) * 20 * time.Millisecond, Length: time.Duration(end-start) * 20 * time.Millisecond}
			if g.Length >= minLen {
				gaps = append(gaps, g)
			}
		}
		start = -1
	}
	for i, v := range rms {
		if v < thr {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
	}
	flush(len(rms))
	return gaps
}
