package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lokicall/lokicall/media"
)

// wavSpec describes a WAV file for makeWAV.
type wavSpec struct {
	tag        uint16 // 1 PCM, 3 float
	extensible bool
	channels   int
	rate       int
	bits       int
}

// makeWAV returns a WAV file holding frames of a sine at hz (amplitude amp of
// full scale) in every channel, with a LIST chunk before the data.
func makeWAV(ws wavSpec, frames int, hz, amp float64) []byte {
	var data bytes.Buffer
	le := binary.LittleEndian
	for i := range frames {
		v := amp * math.Sin(2*math.Pi*hz*float64(i)/float64(ws.rate))
		for range ws.channels {
			switch {
			case ws.tag == 3:
				_ = binary.Write(&data, le, float32(v))
			case ws.bits == 8:
				data.WriteByte(byte(int(math.Round(v*127)) + 128))
			case ws.bits == 16:
				_ = binary.Write(&data, le, int16(math.Round(v*32767)))
			case ws.bits == 24:
				s := int32(math.Round(v * 8388607))
				data.Write([]byte{byte(s), byte(s >> 8), byte(s >> 16)})
			case ws.bits == 32:
				_ = binary.Write(&data, le, int32(math.Round(v*2147483647)))
			}
		}
	}
	var fmtChunk bytes.Buffer
	tag := ws.tag
	if ws.extensible {
		tag = 0xFFFE
	}
	blockAlign := ws.channels * ws.bits / 8
	for _, v := range []any{tag, uint16(ws.channels), uint32(ws.rate),
		uint32(ws.rate * blockAlign), uint16(blockAlign), uint16(ws.bits)} {
		_ = binary.Write(&fmtChunk, le, v)
	}
	if ws.extensible {
		for _, v := range []any{uint16(22), uint16(ws.bits), uint32(0), ws.tag} {
			_ = binary.Write(&fmtChunk, le, v)
		}
		fmtChunk.Write([]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71})
	}
	var out bytes.Buffer
	chunk := func(id string, b []byte) {
		out.WriteString(id)
		_ = binary.Write(&out, le, uint32(len(b)))
		out.Write(b)
		if len(b)%2 == 1 {
			out.WriteByte(0)
		}
	}
	chunk("fmt ", fmtChunk.Bytes())
	chunk("LIST", []byte("INFOxyz")) // odd size, padded
	chunk("data", data.Bytes())
	riff := append([]byte("RIFF\x00\x00\x00\x00WAVE"), out.Bytes()...)
	le.PutUint32(riff[4:], uint32(len(riff)-8))
	return riff
}

func TestWAVSinkRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.wav")
	sink, err := media.OpenSink(media.Spec{Kind: media.KindFile, Arg: path}, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tone := media.NewTone(1000)
	var want []int16
	frame := make([]int16, media.FrameSamples)
	for range 10 {
		if err := tone.ReadFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		if err := sink.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
		want = append(want, frame...)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := sink.WriteFrame(frame); !errors.Is(err, media.ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(raw) != 44+2*len(want) || le.Uint32(raw[4:]) != uint32(len(raw)-8) || le.Uint32(raw[40:]) != uint32(2*len(want)) ||
		le.Uint32(raw[24:]) != 48000 || le.Uint16(raw[22:]) != 1 || le.Uint16(raw[34:]) != 16 {
		t.Errorf("header not fixed up: % x", raw[:44])
	}
	got, rate, err := media.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if rate != 48000 || !equalPCM(got, want) {
		t.Errorf("ReadWAV = %d samples at %d Hz, want the %d written at 48000", len(got), rate, len(want))
	}
}

func equalPCM(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWAVStreamingDataSize: a data size of 0 or 0xFFFFFFFF (a streaming
// writer's placeholder, or a WAV sink that never reached Close) means the
// samples run to the end of the file.
func TestWAVStreamingDataSize(t *testing.T) {
	for _, size := range []uint32{0, 0xFFFFFFFF} {
		raw := makeWAV(wavSpec{tag: 1, channels: 1, rate: 48000, bits: 16}, 480, 440, 0.5)
		binary.LittleEndian.PutUint32(raw[len(raw)-2*480-4:], size)
		pcm, _, err := media.DecodeWAV(bytes.NewReader(raw))
		if err != nil || len(pcm) != 480 {
			t.Errorf("data size %#x: DecodeWAV = %d samples, %v; want 480", size, len(pcm), err)
		}
	}
}

func TestWAVSourceFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   wavSpec
	}{
		{"8 kHz stereo 8-bit", wavSpec{tag: 1, channels: 2, rate: 8000, bits: 8}},
		{"44.1 kHz mono 24-bit", wavSpec{tag: 1, channels: 1, rate: 44100, bits: 24}},
		{"48 kHz stereo float32", wavSpec{tag: 3, channels: 2, rate: 48000, bits: 32}},
		{"16 kHz 6-channel 32-bit extensible", wavSpec{tag: 1, extensible: true, channels: 6, rate: 16000, bits: 32}},
		{"96 kHz mono float32 extensible", wavSpec{tag: 3, extensible: true, channels: 1, rate: 96000, bits: 32}},
		{"22.05 kHz mono 16-bit", wavSpec{tag: 1, channels: 1, rate: 22050, bits: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.wav")
			if err := os.WriteFile(path, makeWAV(tc.ws, tc.ws.rate/2, 440, 0.5), 0o644); err != nil {
				t.Fatal(err)
			}
			pcm, rate, err := media.ReadWAV(path)
			if err != nil || rate != tc.ws.rate || len(pcm) != tc.ws.rate/2 {
				t.Fatalf("ReadWAV = %d samples at %d Hz, %v", len(pcm), rate, err)
			}
			src, err := media.OpenSource(media.Spec{Kind: media.KindFile, Arg: path}, media.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var out []int16
			frame := make([]int16, media.FrameSamples)
			for {
				err := src.ReadFrame(t.Context(), frame)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, frame...)
			}
			if len(out) != 25*media.FrameSamples {
				t.Errorf("source gave %d samples, want 0.5 s at 48 kHz", len(out))
			}
			mid := out[4800 : 24000-4800]
			if f := media.DominantFrequency(mid, media.SampleRate); math.Abs(f-440) > 1 {
				t.Errorf("dominant frequency %.2f Hz, want 440", f)
			}
			if a := media.ToneAmplitude(mid, media.SampleRate, 440); math.Abs(a-0.5) > 0.02 {
				t.Errorf("440 Hz amplitude %.3f, want 0.5", a)
			}
		})
	}
}

func TestWAVSourceLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.wav")
	pcm := make([]int16, 700)
	for i := range pcm {
		pcm[i] = int16(i)
	}
	if err := media.WriteWAV(path, pcm, 48000); err != nil {
		t.Fatal(err)
	}
	src, err := media.OpenSource(media.Spec{Kind: media.KindFile, Arg: path}, media.Options{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, 960)
	for f := range 5 {
		if err := src.ReadFrame(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		for i, v := range frame {
			if want := int16((f*960 + i) % 700); v != want {
				t.Fatalf("frame %d sample %d = %d, want %d", f, i, v, want)
			}
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.wav")
	if err := media.WriteWAV(empty, nil, 8000); err != nil {
		t.Fatal(err)
	}
	if _, err := media.OpenSource(media.Spec{Kind: media.KindFile, Arg: empty}, media.Options{Loop: true}); !errors.Is(err, media.ErrBadWAV) {
		t.Errorf("looping an empty file: %v, want ErrBadWAV", err)
	}
}

func TestWAVBadInput(t *testing.T) {
	good := makeWAV(wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16}, 100, 440, 0.5)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	for name, in := range map[string][]byte{
		"empty":           nil,
		"not RIFF":        []byte("RIFX\x00\x00\x00\x00WAVE"),
		"not WAVE":        mutate(func(b []byte) []byte { copy(b[8:], "AVI "); return b }),
		"RF64":            mutate(func(b []byte) []byte { copy(b, "RF64"); return b }),
		"no fmt":          []byte("RIFF\x04\x00\x00\x00WAVE"),
		"header cut":      good[:30],
		"data truncated":  good[:len(good)-10],
		"no data":         good[:12+8+16+8+8],
		"12-bit":          mutate(func(b []byte) []byte { le.PutUint16(b[34:], 12); return b }),
		"zero channels":   mutate(func(b []byte) []byte { le.PutUint16(b[22:], 0); return b }),
		"zero rate":       mutate(func(b []byte) []byte { le.PutUint32(b[24:], 0); return b }),
		"bad block align": mutate(func(b []byte) []byte { le.PutUint16(b[32:], 3); return b }),
		"ADPCM":           mutate(func(b []byte) []byte { le.PutUint16(b[20:], 2); return b }),
		"huge chunk":      mutate(func(b []byte) []byte { le.PutUint32(b[40:], 0xFFFFFFF0); return b }),
	} {
		if _, _, err := media.DecodeWAV(bytes.NewReader(in)); !errors.Is(err, media.ErrBadWAV) {
			t.Errorf("%s: DecodeWAV = %v, want ErrBadWAV", name, err)
		}
	}
	if _, _, err := media.ReadWAV(filepath.Join(t.TempDir(), "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadWAV of a missing file = %v, want ErrNotExist", err)
	}
}

func FuzzWAVDecode(f *testing.F) {
	f.Add(makeWAV(wavSpec{tag: 1, channels: 2, rate: 8000, bits: 8}, 10, 440, 0.5))
	f.Add(makeWAV(wavSpec{tag: 1, channels: 1, rate: 44100, bits: 24}, 10, 440, 0.5))
	f.Add(makeWAV(wavSpec{tag: 3, extensible: true, channels: 3, rate: 48000, bits: 32}, 10, 440, 0.5))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, err := media.DecodeWAV(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, media.ErrBadWAV) {
				t.Fatalf("error %v does not wrap ErrBadWAV", err)
			}
			return
		}
		if rate < 1 || len(pcm) > len(b) {
			t.Fatalf("rate %d, %d samples from %d bytes", rate, len(pcm), len(b))
		}
	})
}
