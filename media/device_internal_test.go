package media

import (
	"context"
	"errors"
	"testing"
)

func TestMatchDevice(t *testing.T) {
	list := []DeviceInfo{
		{Index: 0, Name: "Built-in Audio Analog Stereo"},
		{Index: 1, Name: "USB Headset Mono"},
		{Index: 2, Name: "USB Headset Stereo"},
	}
	for _, tc := range []struct {
		name string
		want int // index, -1 default, -2 error
	}{
		{"", -1},
		{"1", 1},
		{"USB Headset Stereo", 2},
		{"built-in", 0},
		{"usb headset", -2}, // ambiguous
		{"7", -2},
		{"-1", -2},
		{"HDMI", -2},
	} {
		d, err := matchDevice(list, DeviceCapture, tc.name)
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
