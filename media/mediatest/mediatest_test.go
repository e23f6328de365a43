package mediatest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
	"github.com/lokicall/lokicall/media/mediatest"
)

func TestSource(t *testing.T) {
	src := mediatest.NewSource([]int16{1, 2, 3, 4, 5, 6})
	f := make([]int16, 480)
	if err := src.ReadFrame(t.Context(), f); err != nil || f[0] != 1 || f[5] != 6 || f[6] != 0 {
		t.Fatalf("ReadFrame = %v, %v", f[:8], err)
	}
	if err := src.ReadFrame(t.Context(), f); err != io.EOF {
		t.Fatalf("second ReadFrame = %v, want io.EOF", err)
	}
	if err := src.ReadFrame(t.Context(), f[:100]); !errors.Is(err, media.ErrFrameSize) {
		t.Errorf("ReadFrame(100) = %v", err)
	}
	gen := mediatest.NewGenerator(func(i int64) int16 { return int16(i) })
	gen.ClockedSource = true
	for range 3 {
		if err := gen.ReadFrame(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if f[0] != 960 || gen.Frames() != 3 || !media.Clocked(gen) {
		t.Errorf("generator: f[0] = %d, frames %d, clocked %v", f[0], gen.Frames(), media.Clocked(gen))
	}
	_ = gen.Close()
	if err := gen.ReadFrame(t.Context(), f); !errors.Is(err, media.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v", err)
	}
}

func TestSink(t *testing.T) {
	s := mediatest.NewSink()
	var seen int
	s.OnWrite = func(pcm []int16) { seen += len(pcm) }
	_ = s.WriteFrame([]int16{1, 2})
	_ = s.WriteFrame([]int16{3})
	if got := s.Samples(); len(got) != 3 || got[2] != 3 || len(s.Frames()) != 2 || seen != 3 {
		t.Errorf("Samples = %v, Frames %d, seen %d", got, len(s.Frames()), seen)
	}
	_ = s.Close()
	if !s.Closed() || !errors.Is(s.WriteFrame(nil), media.ErrClosed) {
		t.Error("closed sink still writes")
	}
}

func TestStepClock(t *testing.T) {
	start := time.Unix(100, 0)
	c := mediatest.NewStepClock(start)
	ctx, cancel := context.WithCancel(t.Context())
	c.OnSleep = func(n int, now time.Time) {
		if n == 2 {
			cancel()
		}
	}
	if err := c.SleepUntil(ctx, start.Add(time.Second)); err != nil || !c.Now().Equal(start.Add(time.Second)) {
		t.Fatalf("SleepUntil = %v, now %v", err, c.Now())
	}
	if err := c.SleepUntil(ctx, start); !errors.Is(err, context.Canceled) || !c.Now().Equal(start.Add(time.Second)) {
		t.Fatalf("SleepUntil into the past after cancel = %v, now %v", err, c.Now())
	}
	if w := c.Wakes(); len(w) != 2 {
		t.Errorf("Wakes = %v", w)
	}
}
