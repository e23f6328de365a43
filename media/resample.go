package media

import (
	"math"
	"sync"
)

// Resampling is band-limited interpolation with a Kaiser-windowed sinc
// kernel (16 zero crossings each side, beta 8, about 80 dB stop band), with
// its cut-off at 95 % of the lower of the two Nyquist frequencies. No Go
// resampling library is served here, and this is short. It works on whole
// buffers, which is what a WAV file source needs.

const (
	sincZeros      = 16   // zero crossings of the kernel on each side
	sincResolution = 512  // table entries per zero crossing
	kaiserBeta     = 8.0  // window shape
	sincRolloff    = 0.95 // cut-off as a fraction of the lower Nyquist frequency
)

// sincTable holds sinc(u)·kaiser(u/sincZeros) for u from 0 to sincZeros.
var sincTable = sync.OnceValue(func() []float64 {
	t := make([]float64, sincZeros*sincResolution+2)
	norm := besselI0(kaiserBeta)
	for i := range t {
		u := float64(i) / sincResolution
		if u >= sincZeros {
			break
		}
		x := u / sincZeros
		w := besselI0(kaiserBeta*math.Sqrt(1-x*x)) / norm
		s := 1.0
		if u != 0 {
			s = math.Sin(math.Pi*u) / (math.Pi * u)
		}
		t[i] = s * w
	}
	return t
})

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 64; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// kernel returns the windowed sinc at |u| zero crossings, 0 beyond the last.
func kernel(table []float64, u float64) float64 {
	u = math.Abs(u) * sincResolution
	i := int(u)
	if i >= sincZeros*sincResolution {
		return 0
	}
	f := u - float64(i)
	return table[i] + f*(table[i+1]-table[i])
}

// Resample converts mono pcm from rate from to rate to (both positive) with
// a band-limited windowed-sinc interpolator. The result holds
// ceil(len(pcm)·to/from) samples; equal rates return a copy.
func Resample(pcm []int16, from, to int) []int16 {
	if from <= 0 || to <= 0 || len(pcm) == 0 {
		return nil
	}
	if from == to {
		return append([]int16(nil), pcm...)
	}
	g := gcd(from, to)
	up, down := int64(to/g), int64(from/g)
	outLen := (int64(len(pcm))*up + down - 1) / down
	out := make([]int16, outLen)
	table := sincTable()
	scale := sincRolloff * math.Min(1, float64(to)/float64(from)) // cut-off in input cycles per sample ×2
	half := float64(sincZeros) / scale                            // kernel half-width in input samples
	for n := range out {
		num := int64(n) * down
		base := num / up
		t := float64(base) + float64(num%up)/float64(up) // position in input samples
		lo := max(int(math.Ceil(t-half)), 0)
		hi := min(int(math.Floor(t+half)), len(pcm)-1)
		var acc float64
		for k := lo; k <= hi; k++ {
			acc += float64(pcm[k]) * kernel(table, scale*(t-float64(k)))
		}
		out[n] = quantize(acc * scale)
	}
	return out
}

// gcd returns the greatest common divisor of two positive ints.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
