package runner

import (
	"math"
	"sort"
)

func sortFloats(v []float64) { sort.Float64s(v) }

// Summary is the distribution of one quantity.
type Summary struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
	StdDev float64 `json:"stddev"`
}

// Summarize returns the summary of v (zero for none).
func Summarize(v []float64) Summary {
	if len(v) == 0 {
		return Summary{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum, sq float64
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	for _, x := range s {
		sq += (x - mean) * (x - mean)
	}
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))] }
	return Summary{N: len(s), Mean: mean, Min: s[0], P50: q(0.5), P95: q(0.95), Max: s[len(s)-1], StdDev: math.Sqrt(sq / float64(len(s)))}
}

// rfcJitter is the RFC 3550 interarrival jitter of a series of delays (ms):
// the running mean of |ΔD| with gain 1/16, one value per sample.
func rfcJitter(d []float64) []float64 {
	out := make([]float64, len(d))
	var j float64
	for i := 1; i < len(d); i++ {
		j += (math.Abs(d[i]-d[i-1]) - j) / 16
		out[i] = j
	}
	return out
}
