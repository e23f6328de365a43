package media_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// Per-frame benchmarks of the media pipeline. One call encodes and decodes
// one frame per frame duration, so ns/op divided by 20 ms is the share of
// one core per call (reported as the pct_core metric). make bench collects
// them with the pion baseline of the call package.

// babbleFrames returns n frames of babble.
func babbleFrames(t testing.TB, n, samples int) [][]int16 {
	t.Helper()
	src := media.NewBabble()
	out := make([][]int16, n)
	for i := range out {
		out[i] = make([]int16, samples)
		if err := src.ReadFrame(t.Context(), out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func reportCore(b *testing.B, frame time.Duration) {
	b.ReportMetric(100*float64(b.Elapsed())/float64(b.N)/float64(frame), "pct_core")
}

// BenchmarkEncodeComplexity encodes 20 ms babble frames at each complexity.
func BenchmarkEncodeComplexity(b *testing.B) {
	for _, c := range []int{1, 3, 5, 8, 10} {
		b.Run(fmt.Sprintf("c%d", c), func(b *testing.B) {
			enc := newEncoder(b, media.EncoderConfig{Complexity: c})
			frames := babbleFrames(b, 50, media.FrameSamples)
			for i := 0; b.Loop(); i++ {
				if _, err := enc.Encode(frames[i%len(frames)]); err != nil {
					b.Fatal(err)
				}
			}
			reportCore(b, media.FrameDuration)
		})
	}
}

// BenchmarkFrameSizes encodes and decodes one frame at each frame size;
// pct_core is per call, so longer frames cost less per second of audio.
func BenchmarkFrameSizes(b *testing.B) {
	for _, fd := range []time.Duration{10, 20, 40, 60} {
		fd := fd * time.Millisecond
		b.Run(fd.String(), func(b *testing.B) {
			enc, dec := newEncoder(b, media.EncoderConfig{FrameDuration: fd}), newDecoder(b)
			frames := babbleFrames(b, 50, enc.FrameSamples())
			pcm := make([]int16, enc.FrameSamples())
			for i := 0; b.Loop(); i++ {
				pkt, err := enc.Encode(frames[i%len(frames)])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := dec.Decode(pkt, pcm); err != nil {
					b.Fatal(err)
				}
			}
			reportCore(b, fd)
		})
	}
}

// BenchmarkReceivePath is the receive side of one frame: jitter buffer push
// and pop, then decode.
func BenchmarkReceivePath(b *testing.B) {
	enc, dec := newEncoder(b, media.EncoderConfig{}), newDecoder(b)
	var pkts [][]byte
	for _, f := range babbleFrames(b, 50, media.FrameSamples) {
		p, err := enc.Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	jb, err := media.NewJitterBuffer(media.JitterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, media.FrameSamples)
	now := time.Unix(0, 0)
	for i := 0; b.Loop(); i++ {
		jb.Push(uint16(i), uint32(i*media.FrameSamples), pkts[i%len(pkts)], now)
		if s := jb.Pop(); s.Status == media.Ready {
			if _, err := dec.Decode(s.Payload, pcm); err != nil {
				b.Fatal(err)
			}
		}
		now = now.Add(media.FrameDuration)
	}
	reportCore(b, media.FrameDuration)
}

// codecDistance encodes babble at cfg, decodes it and returns the mean
// log-spectral distance in dB between input and output over voiced 20 ms
// frames, 100 Hz to 8 kHz, aligned for the codec's 312-sample look-ahead.
// Unlike waveform SNR it ignores phase, which a perceptual codec does not
// keep.
func codecDistance(t testing.TB, cfg media.EncoderConfig) float64 {
	enc, dec := newEncoder(t, cfg), newDecoder(t)
	frames := babbleFrames(t, 250, enc.FrameSamples())
	var in, out []int16
	pcm := make([]int16, enc.FrameSamples())
	for _, f := range frames {
		pkt, err := enc.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Decode(pkt, pcm); err != nil {
			t.Fatal(err)
		}
		in, out = append(in, f...), append(out, pcm...)
	}
	const n, lag = 1024, 312
	lo, hi := 100*n/media.SampleRate, 8000*n/media.SampleRate
	var sum float64
	count := 0
	for start := 25 * media.FrameSamples; start+n+lag < len(out); start += media.FrameSamples {
		a, b := spectrum(in[start:start+n]), spectrum(out[start+lag:start+lag+n])
		var energy float64
		for k := lo; k <= hi; k++ {
			energy += a[k]
		}
		if energy < 1e9 { // a pause between syllables
			continue
		}
		var d float64
		for k := lo; k <= hi; k++ {
			r := 10 * math.Log10((a[k]+1e3)/(b[k]+1e3))
			d += r * r
		}
		sum += math.Sqrt(d / float64(hi-lo+1))
		count++
	}
	return sum / float64(count)
}

// spectrum returns the power spectrum of a Hann-windowed block whose length
// is a power of two.
func spectrum(x []int16) []float64 {
	n := len(x)
	c := make([]complex128, n)
	for i, v := range x {
		c[i] = complex(float64(v)*(0.5-0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))), 0)
	}
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j |= bit
		if i < j {
			c[i], c[j] = c[j], c[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		for k := range size / 2 {
			w := complex(math.Cos(-2*math.Pi*float64(k)/float64(size)), math.Sin(-2*math.Pi*float64(k)/float64(size)))
			for s := 0; s < n; s += size {
				a, b := c[s+k], c[s+k+size/2]*w
				c[s+k], c[s+k+size/2] = a+b, a-b
			}
		}
	}
	p := make([]float64, n/2+1)
	for k := range p {
		p[k] = real(c[k])*real(c[k]) + imag(c[k])*imag(c[k])
	}
	return p
}

// TestComplexityQuality measures what lower complexities cost in quality
// (log-spectral distance of babble through the codec, lower is better; the
// figures are logged) and checks the choice: DefaultComplexity no more than
// 0.5 dB worse than complexity 5, the middle of the range. On this measure
// complexities 1 to 5 are alike and 8 to 10 are better by about 1.3 dB at
// twice the CPU (BenchmarkEncodeComplexity).
func TestComplexityQuality(t *testing.T) {
	lsd := map[int]float64{}
	for _, c := range []int{1, 3, 5, 8, 10} {
		lsd[c] = codecDistance(t, media.EncoderConfig{Complexity: c})
		t.Logf("complexity %2d: log-spectral distance %.2f dB", c, lsd[c])
	}
	def := codecDistance(t, media.EncoderConfig{})
	if def > lsd[5]+0.5 {
		t.Errorf("default complexity %d: distance %.2f dB, more than 0.5 dB above complexity 5 (%.2f dB)", media.DefaultComplexity, def, lsd[5])
	}
}
