package media_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lokicall/lokicall/media"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want media.Spec
	}{
		{"device", media.Spec{Kind: "device"}},
		{"device:", media.Spec{Kind: "device"}},
		{"device:USB Headset", media.Spec{Kind: "device", Arg: "USB Headset"}},
		{"device:hw:1,0", media.Spec{Kind: "device", Arg: "hw:1,0"}},
		{"device:2", media.Spec{Kind: "device", Arg: "2"}},
		{"file:in.wav", media.Spec{Kind: "file", Arg: "in.wav"}},
		{"file:/tmp/a:b/OUT.WAV", media.Spec{Kind: "file", Arg: "/tmp/a:b/OUT.WAV"}},
		{"tone:440", media.Spec{Kind: "tone", Arg: "440"}},
		{"tone:1", media.Spec{Kind: "tone", Arg: "1"}},
		{"tone:20000", media.Spec{Kind: "tone", Arg: "20000"}},
		{"tone:997.5", media.Spec{Kind: "tone", Arg: "997.5"}},
		{"TONE:440", media.Spec{Kind: "tone", Arg: "440"}},
		{"silence", media.Spec{Kind: "silence"}},
		{"null", media.Spec{Kind: "null"}},
	} {
		got, err := media.ParseSpec(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "mic", "file", "file:", "file:in.mp3", "tone", "tone:", "tone:0", "tone:0.5",
		"tone:20001", "tone:NaN", "tone:inf", "tone:440Hz", "silence:1", "null:", ":x",
	} {
		_, err := media.ParseSpec(in)
		if !errors.Is(err, media.ErrBadSpec) {
			t.Errorf("ParseSpec(%q) = %v, want ErrBadSpec", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "device[:NAME], file:PATH.wav, tone:HZ") {
			t.Errorf("ParseSpec(%q) error %q does not list the accepted forms", in, err)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"device", "device:x", "file:a.wav", "tone:440", "tone:1e3", "silence", "null", "", ":", "tone:-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := media.ParseSpec(s)
		if err != nil {
			if !errors.Is(err, media.ErrBadSpec) {
				t.Fatalf("ParseSpec(%q) error %v does not wrap ErrBadSpec", s, err)
			}
			return
		}
		again, err := media.ParseSpec(spec.String())
		if err != nil || again != spec {
			t.Fatalf("ParseSpec(%q) = %+v, but its String %q parses to %+v, %v", s, spec, spec.String(), again, err)
		}
	})
}

func TestOpenSourceAndSink(t *testing.T) {
	ctx := t.Context()
	frame := make([]int16, media.FrameSamples)
	for _, s := range []string{"tone:440", "silence", "null"} {
		spec, _ := media.ParseSpec(s)
		src, err := media.OpenSource(spec, media.Options{})
		if err != nil {
			t.Fatalf("OpenSource(%s): %v", s, err)
		}
		if media.Clocked(src) {
			t.Errorf("%s source claims to be clocked", s)
		}
		for range 3 {
			if err := src.ReadFrame(ctx, frame); err != nil {
				t.Fatalf("%s: ReadFrame: %v", s, err)
			}
		}
		if err := src.ReadFrame(ctx, make([]int16, 100)); !errors.Is(err, media.ErrFrameSize) {
			t.Errorf("%s: ReadFrame(100 samples) = %v, want ErrFrameSize", s, err)
		}
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		if err := src.ReadFrame(ctx, frame); !errors.Is(err, media.ErrClosed) {
			t.Errorf("%s: ReadFrame after Close = %v, want ErrClosed", s, err)
		}
	}
	for _, s := range []string{"tone:440", "silence"} {
		spec, _ := media.ParseSpec(s)
		if _, err := media.OpenSink(spec, media.Options{}); !errors.Is(err, media.ErrBadSpec) ||
			!strings.Contains(err.Error(), "source only") {
			t.Errorf("OpenSink(%s) = %v, want ErrBadSpec saying it is a source only", s, err)
		}
	}
	sink, err := media.OpenSink(media.Spec{Kind: media.KindNull}, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	_ = sink.Close()
	if err := sink.WriteFrame(frame); !errors.Is(err, media.ErrClosed) {
		t.Errorf("null sink WriteFrame after Close = %v", err)
	}
	for _, spec := range []media.Spec{{}, {Kind: "mic"}, {Kind: "tone", Arg: "x"}} {
		if _, err := media.OpenSource(spec, media.Options{}); !errors.Is(err, media.ErrBadSpec) {
			t.Errorf("OpenSource(%+v) = %v, want ErrBadSpec", spec, err)
		}
	}
	if _, err := media.OpenSink(media.Spec{}, media.Options{}); !errors.Is(err, media.ErrBadSpec) {
		t.Errorf("OpenSink(zero Spec) = %v, want ErrBadSpec", err)
	}
	if _, err := media.OpenSource(media.Spec{Kind: media.KindFile, Arg: t.TempDir() + "/none.wav"}, media.Options{}); err == nil {
		t.Error("OpenSource of a missing file succeeded")
	}
	var _ io.Closer = sink
}
