package media_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// TestDeviceMissing opens the default and a named device on a machine
// without a sound card: each must fail with ErrNoDevice, promptly and
// without crashing. Where a real card exists the test skips itself.
func TestDeviceMissing(t *testing.T) {
	type result struct {
		what string
		err  error
	}
	done := make(chan result, 4)
	go func() {
		for _, s := range []string{"device", "device:no such device", "device:99"} {
			spec, err := media.ParseSpec(s)
			if err != nil {
				done <- result{s, err}
				continue
			}
			src, err := media.OpenSource(spec, media.Options{})
			if err == nil {
				_ = src.Close()
				done <- result{s, nil}
				continue
			}
			done <- result{s + " as source", err}
		}
		sink, err := media.OpenSink(media.Spec{Kind: media.KindDevice}, media.Options{})
		if err == nil {
			_ = sink.Close()
		}
		done <- result{"device as sink", err}
	}()
	for range 4 {
		select {
		case r := <-done:
			if r.err == nil {
				t.Skipf("%s opened: this machine has a sound device", r.what)
			}
			if !errors.Is(r.err, media.ErrNoDevice) {
				t.Errorf("%s: %v, want ErrNoDevice", r.what, r.err)
			}
			t.Logf("%s: %v", r.what, r.err)
		case <-time.After(time.Minute): // a hang guard, not a timing assertion
			t.Fatal("opening a missing device hung")
		}
	}
}

func TestListDevices(t *testing.T) {
	list, err := media.ListDevices(t.Context())
	if err != nil && !errors.Is(err, media.ErrNoDevice) {
		t.Fatalf("ListDevices = %v, want a list or ErrNoDevice", err)
	}
	for _, d := range list {
		t.Logf("%s %d %q default=%v", d.Kind, d.Index, d.Name, d.Default)
	}
}

// TestALSANullDevice runs the real device path (miniaudio callback, ring
// buffer, ReadFrame paced by the device) against ALSA's "null" PCM, which
// headless Linux machines with libasound list. It skips where there is none.
func TestALSANullDevice(t *testing.T) {
	const name = "Discard all samples"
	list, err := media.ListDevices(t.Context())
	if err != nil {
		t.Skipf("no audio system: %v", err)
	}
	found := 0
	for _, d := range list {
		if strings.Contains(d.Name, name) {
			found++
		}
	}
	if found < 2 {
		t.Skip("no ALSA null capture and playback device")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang guard
	defer cancel()
	src, err := media.OpenSource(media.Spec{Kind: media.KindDevice, Arg: name}, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !media.Clocked(src) {
		t.Error("device source is not clocked")
	}
	frame := make([]int16, media.FrameSamples)
	for range 3 {
		if err := src.ReadFrame(ctx, frame); err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.ReadFrame(ctx, frame); !errors.Is(err, media.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v, want ErrClosed", err)
	}
	sink, err := media.OpenSink(media.Spec{Kind: media.KindDevice, Arg: name}, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := sink.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteFrame(frame); !errors.Is(err, media.ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
}
