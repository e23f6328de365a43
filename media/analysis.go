package media

import (
	"math"
	"math/cmplx"
)

// Signal analysis for tests and measurements (the call package checks that a
// 440 Hz tone came through a call).

// maxAnalysis bounds the samples DominantFrequency looks at (the first ones).
const maxAnalysis = 1 << 20

// DominantFrequency returns the frequency in Hz of the strongest spectral
// peak of pcm sampled at sampleRate, to well under 1 Hz for a clean tone of
// a few frames or more. It removes DC first, applies a Hann window,
// zero-pads to at least 16384 points and interpolates between FFT bins. It
// returns 0 for silence or empty input, and looks at the first 2^20 samples
// only.
func DominantFrequency(pcm []int16, sampleRate int) float64 {
	if len(pcm) > maxAnalysis {
		pcm = pcm[:maxAnalysis]
	}
	if len(pcm) < 2 || sampleRate <= 0 {
		return 0
	}
	var mean float64
	for _, s := range pcm {
		mean += float64(s)
	}
	mean /= float64(len(pcm))
	n := 16384
	for n < 2*len(pcm) {
		n <<= 1
	}
	x := make([]complex128, n)
	for i, s := range pcm {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(pcm)-1))
		x[i] = complex((float64(s)-mean)*w, 0)
	}
	fft(x)
	best, bestMag := 0, 0.0
	mags := make([]float64, n/2+1)
	for k := range mags {
		mags[k] = cmplx.Abs(x[k])
		if k > 0 && mags[k] > bestMag {
			best, bestMag = k, mags[k]
		}
	}
	if bestMag == 0 {
		return 0
	}
	shift := 0.0
	if best > 0 && best < n/2 {
		// Parabolic interpolation on log magnitudes (exact for a Gaussian
		// peak, close for a Hann-windowed sine).
		a, b, c := math.Log(mags[best-1]+1e-12), math.Log(mags[best]), math.Log(mags[best+1]+1e-12)
		if d := a - 2*b + c; d < 0 {
			shift = 0.5 * (a - c) / d
		}
	}
	return (float64(best) + shift) * float64(sampleRate) / float64(n)
}

// fft is an in-place iterative radix-2 FFT; len(x) is a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j |= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Rect(1, -2*math.Pi/float64(size))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := range size / 2 {
				a, b := x[start+k], x[start+k+size/2]*wk
				x[start+k], x[start+k+size/2] = a+b, a-b
				wk *= w
			}
		}
	}
}

// ToneAmplitude returns the amplitude of the hz component of pcm sampled at
// sampleRate, as a fraction of full scale (a full-scale sine at hz gives
// about 1, the tone source about 0.25), using the Goertzel algorithm over
// the whole of pcm. Leakage from other frequencies is small when pcm spans
// many periods.
func ToneAmplitude(pcm []int16, sampleRate int, hz float64) float64 {
	if len(pcm) == 0 || sampleRate <= 0 {
		return 0
	}
	w := 2 * math.Pi * hz / float64(sampleRate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	return 2 * math.Hypot(re, im) / float64(len(pcm)) / 32768
}
