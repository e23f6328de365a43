package media

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gen2brain/malgo"
)

func TestMatchDevice(t *testing.T) {
	list := []DeviceInfo{
		{Index: 0, Name: "Built-in Audio Analog Stereo", ID: "hw:CARD=PCH,DEV=0"},
		{Index: 1, Name: "USB Headset Mono", ID: "usb_mono"},
		{Index: 2, Name: "USB Headset Stereo", ID: "usb_stereo"},
	}
	for _, tc := range []struct {
		name string
		want int // index, -1 default, -2 error
	}{
		{"", -1},
		{"1", 1},
		{"USB Headset Stereo", 2},
		{"built-in", 0},
		{"usb_stereo", 2},        // by ALSA name
		{"hw:CARD=PCH,DEV=0", 0}, // by ALSA name
		{"usb headset", -2},      // ambiguous
		{"7", -2},
		{"-1", -2},
		{"HDMI", -2},
	} {
		d, err := matchDevice(list, DeviceCapture, tc.name)
		if um := (unmatchedError{}); errors.As(err, &um) != (tc.name == "HDMI") {
			t.Errorf("matchDevice(%q): unmatched = %v", tc.name, err)
		}
		switch {
		case tc.want == -2:
			if !errors.Is(err, ErrNoDevice) {
				t.Errorf("matchDevice(%q) = %v, %v; want ErrNoDevice", tc.name, d, err)
			}
		case tc.want == -1:
			if d != nil || err != nil {
				t.Errorf("matchDevice(%q) = %v, %v; want default", tc.name, d, err)
			}
		case err != nil || d == nil || d.Index != tc.want:
			t.Errorf("matchDevice(%q) = %v, %v; want index %d", tc.name, d, err, tc.want)
		}
	}
}

func TestSampleRing(t *testing.T) {
	q := newSampleRing(8)
	q.write([]int16{1, 2, 3, 4, 5})
	got := make([]int16, 3)
	if err := q.readFull(context.Background(), got); err != nil || got[0] != 1 || got[2] != 3 {
		t.Fatalf("readFull = %v, %v", got, err)
	}
	q.write([]int16{6, 7, 8, 9, 10, 11, 12}) // 9 samples for 8 slots: drops 4
	all := make([]int16, 8)
	if n := q.readAvailable(all); n != 8 || all[0] != 5 || all[7] != 12 || q.dropped != 1 {
		t.Fatalf("readAvailable = %d %v, dropped %d", n, all, q.dropped)
	}
	q.write(make([]int16, 20)) // longer than the ring
	if q.n != 8 || q.dropped != 13 {
		t.Fatalf("after an oversized write: n %d dropped %d", q.n, q.dropped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.readAvailable(all)
	if err := q.readFull(ctx, got); !errors.Is(err, context.Canceled) {
		t.Errorf("readFull on an empty ring with a done ctx = %v", err)
	}
	done := make(chan error)
	go func() { done <- q.readFull(context.Background(), got) }()
	q.close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("readFull after close = %v, want ErrClosed", err)
	}
}

func TestSampleRingTrim(t *testing.T) {
	q := newSampleRing(deviceRingSamples)
	p := make([]int16, granuleSamples)
	// A reader that keeps 30 ms queued for a whole window: trimmed to 20 ms.
	q.write(make([]int16, 3*granuleSamples))
	for range trimWindow / granuleSamples {
		q.write(p)
		q.readAvailable(p)
		q.trim(len(p), playbackKeep, playbackTrimAbove)
	}
	if q.n != playbackKeep || q.trimmed != granuleSamples {
		t.Errorf("after a window at 30 ms: n %d trimmed %d, want %d and %d", q.n, q.trimmed, playbackKeep, granuleSamples)
	}
	// At 20 ms nothing more is trimmed.
	for range 3 * trimWindow / granuleSamples {
		q.write(p)
		q.readAvailable(p)
		q.trim(len(p), playbackKeep, playbackTrimAbove)
	}
	if q.n != playbackKeep || q.trimmed != granuleSamples {
		t.Errorf("at 20 ms: n %d trimmed %d", q.n, q.trimmed)
	}
	q.discardBacklog(5)
	if q.n != 5 {
		t.Errorf("discardBacklog(5) left %d", q.n)
	}
}

func TestPacer(t *testing.T) {
	now := time.Unix(0, 0)
	var slept time.Duration
	p := pacer{now: func() time.Time { return now }, sleep: func(d time.Duration) { slept += d; now = now.Add(d) }}
	// A real device: 10 ms of audio every 10 ms is never paced.
	for range 100 {
		if p.after(granuleSamples) {
			t.Fatal("a device at real time was found clockless")
		}
		now = now.Add(10 * time.Millisecond)
	}
	if slept != 0 || p.clockless {
		t.Fatalf("slept %v for a device at real time", slept)
	}
	// A clockless device: no time passes between callbacks.
	q := pacer{now: p.now, sleep: p.sleep}
	found := false
	for range 20 {
		found = q.after(granuleSamples) || found
	}
	if !found || !q.clockless {
		t.Fatal("200 ms of audio in no time: not found clockless")
	}
	start := now
	for range 100 {
		q.after(granuleSamples)
	}
	if got := now.Sub(start); got < 990*time.Millisecond || got > time.Second {
		t.Errorf("100 paced periods took %v, want 1 s", got)
	}
	// A stall of more than resyncAfter: pacing starts again from now, and
	// the new anchor is reported so that a measurement can follow it.
	now = now.Add(resyncAfter + 50*time.Millisecond)
	if !q.after(granuleSamples) {
		t.Error("a stall past resyncAfter set no anchor that after reported")
	}
	if !q.anchor.Equal(now) || q.anchorFrames != q.frames || q.resyncs != 1 {
		t.Errorf("after a stall: anchor %v at sample %d (moved %d), resyncs %d; want %v, %d, 1",
			q.anchor, q.anchorFrames, q.frames, q.resyncs, now, q.frames)
	}
	start = now
	for range 10 {
		if q.after(granuleSamples) {
			t.Fatal("an anchor reported while paced on time")
		}
	}
	if got := now.Sub(start); got < 99*time.Millisecond || got > 100*time.Millisecond {
		t.Errorf("10 paced periods after the stall took %v, want 100 ms", got)
	}
}

func TestIDString(t *testing.T) {
	var id malgo.DeviceID
	copy(id[:], "lokicall_capture")
	if got := idString(id); got != "lokicall_capture" {
		t.Errorf("idString(ALSA name) = %q", got)
	}
	var bin malgo.DeviceID
	bin[0], bin[1] = 1, 0xff
	if got := idString(bin); got != "01ff" {
		t.Errorf("idString(binary) = %q, want hex", got)
	}
	if got, ok := textID("plughw:1,0"); !ok || idString(got) != "plughw:1,0" {
		t.Errorf("textID round trip = %q %v", idString(got), ok)
	}
	if _, ok := textID(""); ok {
		t.Error("textID accepted an empty name")
	}
}
