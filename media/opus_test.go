package media_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// toneFrames returns n frames of samples of a sine at hz and peak amplitude amp.
func toneFrames(n, samples int, hz, amp float64, startPhase *float64) [][]int16 {
	frames := make([][]int16, n)
	for f := range frames {
		frames[f] = make([]int16, samples)
		for i := range frames[f] {
			frames[f][i] = int16(amp * math.Sin(*startPhase))
			*startPhase += 2 * math.Pi * hz / media.SampleRate
		}
	}
	return frames
}

func newEncoder(t testing.TB, cfg media.EncoderConfig) *media.Encoder {
	t.Helper()
	enc, err := media.NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	return enc
}

func newDecoder(t testing.TB) *media.Decoder {
	t.Helper()
	dec, err := media.NewDecoder()
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return dec
}

func TestOpusToneRoundTrip(t *testing.T) {
	enc, dec := newEncoder(t, media.EncoderConfig{}), newDecoder(t)
	src := media.NewTone(440)
	pcm := make([]int16, media.FrameSamples)
	var out []int16
	for range 50 {
		if err := src.ReadFrame(t.Context(), pcm); err != nil {
			t.Fatal(err)
		}
		pkt, err := enc.Encode(pcm)
		if err != nil {
			t.Fatal(err)
		}
		frame := make([]int16, media.FrameSamples)
		n, err := dec.Decode(pkt, frame)
		if err != nil || n != media.FrameSamples {
			t.Fatalf("Decode = %d, %v; want %d", n, err, media.FrameSamples)
		}
		out = append(out, frame...)
	}
	out = out[5*media.FrameSamples:] // past the codec's start-up
	if f := media.DominantFrequency(out, media.SampleRate); math.Abs(f-440) > 5 {
		t.Errorf("dominant frequency after Opus = %.2f Hz, want 440±5", f)
	}
	if a := media.ToneAmplitude(out, media.SampleRate, 440); math.Abs(a-0.251) > 0.05 {
		t.Errorf("440 Hz amplitude after Opus = %.3f, want about 0.251 (-12 dBFS)", a)
	}
}

// TestOpusConstantBitrate checks hard CBR: every packet of a frame duration
// has the same size whatever the input (silence, tone, noise, clipping,
// onsets), as DESIGN §4 requires.
func TestOpusConstantBitrate(t *testing.T) {
	for _, tc := range []struct {
		cfg  media.EncoderConfig
		want int
	}{
		{media.EncoderConfig{}, 80},
		{media.EncoderConfig{FrameDuration: 10 * time.Millisecond}, 40},
		{media.EncoderConfig{FrameDuration: 40 * time.Millisecond}, 160},
		{media.EncoderConfig{FrameDuration: 60 * time.Millisecond}, 240},
		{media.EncoderConfig{Bitrate: 16000}, 40},
		{media.EncoderConfig{Bitrate: 64000, DisableFEC: true}, 160},
	} {
		enc := newEncoder(t, tc.cfg)
		n := enc.FrameSamples()
		rng := rand.New(rand.NewPCG(1, 2))
		phase := 0.0
		var inputs [][]int16
		inputs = append(inputs, make([]int16, n), make([]int16, n)) // silence
		inputs = append(inputs, toneFrames(10, n, 440, 8000, &phase)...)
		for range 10 { // white noise
			f := make([]int16, n)
			for i := range f {
				f[i] = int16(rng.IntN(65536) - 32768)
			}
			inputs = append(inputs, f)
		}
		inputs = append(inputs, make([]int16, n)) // silence after noise
		for range 5 {                             // clipped square wave
			f := make([]int16, n)
			for i := range f {
				f[i] = 32767
				if i/40%2 == 1 {
					f[i] = -32768
				}
			}
			inputs = append(inputs, f)
		}
		inputs = append(inputs, toneFrames(3, n, 3000, 200, &phase)...) // quiet
		for i, in := range inputs {
			pkt, err := enc.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) != tc.want {
				t.Errorf("%+v: packet %d is %d bytes, want %d (CBR)", tc.cfg, i, len(pkt), tc.want)
			}
		}
	}
}

// TestOpusFECRecoversLostFrame drops one frame at a change in the signal
// and checks that rebuilding it from the next packet's in-band FEC comes
// far closer to the lossless decode than concealment does, and that with
// FEC disabled DecodeFEC is no better than concealment (so the gain really
// is the encoder's FEC data).
func TestOpusFECRecoversLostFrame(t *testing.T) {
	for _, disable := range []bool{false, true} {
		errFEC, errPLC, fec := fecVersusConcealment(t, media.EncoderConfig{DisableFEC: disable})
		t.Logf("DisableFEC=%v: squared error vs lossless: FEC %.3g, concealment %.3g", disable, errFEC, errPLC)
		if disable {
			// DecodeFEC refused (ErrNoFEC) and fecVersusConcealment
			// concealed instead, as the Receiver does.
			if errFEC != errPLC {
				t.Errorf("FEC disabled: fallback error %.3g differs from concealment %.3g", errFEC, errPLC)
			}
			continue
		}
		if errFEC*4 > errPLC {
			t.Errorf("FEC error %.3g not well below concealment error %.3g", errFEC, errPLC)
		}
		if f := media.DominantFrequency(fec, media.SampleRate); math.Abs(f-900) > 30 {
			t.Errorf("FEC frame dominant frequency %.1f Hz, want about 900", f)
		}
	}
}

// fecVersusConcealment encodes a 300 Hz tone that jumps to 900 Hz, loses
// the frame after the jump and returns the squared error against the
// lossless decode of that frame rebuilt by FEC and by concealment, and the
// FEC frame.
func fecVersusConcealment(t *testing.T, cfg media.EncoderConfig) (errFEC, errPLC float64, fec []int16) {
	t.Helper()
	enc := newEncoder(t, cfg)
	phase := 0.0
	frames := toneFrames(20, media.FrameSamples, 300, 6000, &phase)
	frames = append(frames, toneFrames(10, media.FrameSamples, 900, 9000, &phase)...)
	pkts := make([][]byte, len(frames))
	for i, f := range frames {
		var err error
		if pkts[i], err = enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	const lost = 20
	decodeAll := func(recover func(d *media.Decoder, pcm []int16) error) []int16 {
		d := newDecoder(t)
		pcm := make([]int16, media.FrameSamples)
		for i := range lost + 1 {
			var err error
			if i == lost {
				err = recover(d, pcm)
			} else {
				_, err = d.Decode(pkts[i], pcm)
			}
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		return pcm
	}
	ref := decodeAll(func(d *media.Decoder, pcm []int16) error { _, err := d.Decode(pkts[lost], pcm); return err })
	fec = decodeAll(func(d *media.Decoder, pcm []int16) error {
		err := d.DecodeFEC(pkts[lost+1], pcm)
		if errors.Is(err, media.ErrNoFEC) {
			if !cfg.DisableFEC {
				t.Errorf("DecodeFEC: %v with FEC on", err)
			}
			return d.Conceal(pcm)
		}
		if err == nil && cfg.DisableFEC {
			t.Errorf("DecodeFEC succeeded with FEC off")
		}
		return err
	})
	plc := decodeAll(func(d *media.Decoder, pcm []int16) error { return d.Conceal(pcm) })
	return sqErr(ref, fec), sqErr(ref, plc), fec
}

func sqErr(a, b []int16) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func TestEncoderConfigErrors(t *testing.T) {
	for _, cfg := range []media.EncoderConfig{
		{Bitrate: 1000},
		{Bitrate: 600000},
		{FrameDuration: 15 * time.Millisecond},
		{FrameDuration: 5 * time.Millisecond},
		{ExpectedLossPercent: -1},
		{ExpectedLossPercent: 101},
	} {
		if _, err := media.NewEncoder(cfg); !errors.Is(err, media.ErrBadConfig) {
			t.Errorf("NewEncoder(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
	enc := newEncoder(t, media.EncoderConfig{})
	got := enc.Config()
	if got.Bitrate != 32000 || got.FrameDuration != 20*time.Millisecond || got.DisableFEC || got.ExpectedLossPercent != 10 {
		t.Errorf("defaults = %+v", got)
	}
	if _, err := enc.Encode(make([]int16, 480)); !errors.Is(err, media.ErrFrameSize) {
		t.Errorf("Encode(480 samples) = %v, want ErrFrameSize", err)
	}
}

func TestDecoderErrors(t *testing.T) {
	dec := newDecoder(t)
	pcm := make([]int16, media.FrameSamples)
	if _, err := dec.Decode(nil, pcm); err == nil {
		t.Error("Decode(nil) succeeded")
	}
	if _, err := dec.Decode([]byte{0xff, 0xff, 0xff}, pcm); err == nil {
		t.Error("Decode(garbage) succeeded")
	}
	if err := dec.Conceal(make([]int16, 100)); !errors.Is(err, media.ErrFrameSize) {
		t.Errorf("Conceal(100 samples) = %v, want ErrFrameSize", err)
	}
	if err := dec.DecodeFEC([]byte{1, 2}, make([]int16, 7000)); !errors.Is(err, media.ErrFrameSize) {
		t.Errorf("DecodeFEC(7000 samples) = %v, want ErrFrameSize", err)
	}
	if err := dec.Conceal(pcm); err != nil {
		t.Errorf("Conceal on a fresh decoder: %v", err)
	}
	// A 20 ms packet into a 10 ms buffer must fail, not write past len.
	enc := newEncoder(t, media.EncoderConfig{})
	pkt, _ := enc.Encode(pcm)
	big := make([]int16, 2*media.FrameSamples)
	for i := range big {
		big[i] = 7
	}
	if _, err := dec.Decode(pkt, big[:480]); err == nil {
		t.Error("Decode of 20 ms into 480 samples succeeded")
	}
	for i := 480; i < len(big); i++ {
		if big[i] != 7 {
			t.Fatalf("Decode wrote past len(pcm) at %d", i)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	enc := newEncoder(b, media.EncoderConfig{})
	phase := 0.0
	frames := toneFrames(50, media.FrameSamples, 440, 8000, &phase)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := enc.Encode(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	enc, dec := newEncoder(b, media.EncoderConfig{}), newDecoder(b)
	phase := 0.0
	var pkts [][]byte
	for _, f := range toneFrames(50, media.FrameSamples, 440, 8000, &phase) {
		p, err := enc.Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	pcm := make([]int16, media.FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
	}
}
