package media_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hraban/opus"

	"github.com/lokicall/lokicall/media"
)

// encodeTone encodes n frames of babble (a speech-like signal) at cfg.
func encodeTone(t testing.TB, cfg media.EncoderConfig, n int) [][]byte {
	t.Helper()
	enc := newEncoder(t, cfg)
	src := media.NewBabble()
	pcm := make([]int16, enc.FrameSamples())
	pkts := make([][]byte, n)
	for i := range pkts {
		if err := src.ReadFrame(t.Context(), pcm); err != nil {
			t.Fatal(err)
		}
		var err error
		if pkts[i], err = enc.Encode(pcm); err != nil {
			t.Fatal(err)
		}
	}
	return pkts
}

// TestHasFECMatchesLibopus checks HasFEC against libopus itself: for every
// packet, libopus's FEC decode of the frame before it differs from plain
// concealment from the same decoder state exactly when HasFEC says the
// packet carries FEC data. It runs at every frame size, with FEC on and off.
// (libopus codes FEC only for frames its voice detector calls speech: a
// steady tone loses it within a second, babble keeps it while voiced.)
func TestHasFECMatchesLibopus(t *testing.T) {
	for _, fd := range []time.Duration{10, 20, 40, 60} {
		for _, off := range []bool{false, true} {
			fd := fd * time.Millisecond
			pkts := encodeTone(t, media.EncoderConfig{FrameDuration: fd, DisableFEC: off}, 40)
			samples := int(fd * media.SampleRate / time.Second)
			withFEC := 0
			for i := 1; i < len(pkts)-1; i++ {
				a, _ := opus.NewDecoder(media.SampleRate, 1)
				b, _ := opus.NewDecoder(media.SampleRate, 1)
				buf := make([]int16, samples)
				for _, p := range pkts[:i] {
					if _, err := a.Decode(p, buf); err != nil {
						t.Fatal(err)
					}
					if _, err := b.Decode(p, buf); err != nil {
						t.Fatal(err)
					}
				}
				fec, plc := make([]int16, samples), make([]int16, samples)
				if err := a.DecodeFEC(pkts[i+1], fec); err != nil {
					t.Fatal(err)
				}
				if err := b.DecodePLC(plc); err != nil {
					t.Fatal(err)
				}
				used := !slices.Equal(fec, plc)
				has := media.HasFEC(pkts[i+1])
				if has {
					withFEC++
				}
				// Across a change of coding mode or bandwidth, libopus's FEC
				// path switches decoder state even without FEC data, so its
				// output says nothing there.
				if pkts[i][0]>>3 != pkts[i+1][0]>>3 || pkts[i-1][0]>>3 != pkts[i][0]>>3 {
					continue
				}
				if has != used {
					t.Errorf("%v FEC off=%v packet %d: HasFEC=%v but libopus used FEC data: %v", fd, off, i+1, has, used)
				}
			}
			t.Logf("%v FEC off=%v: %d of %d packets carry FEC", fd, off, withFEC, len(pkts)-2)
			if off && withFEC > 0 {
				t.Errorf("%v: FEC disabled but %d packets carry FEC", fd, withFEC)
			}
			if !off && withFEC < (len(pkts)-2)/2 {
				t.Errorf("%v: FEC on but only %d of %d packets carry FEC", fd, withFEC, len(pkts)-2)
			}
		}
	}
}

func TestPacketDuration(t *testing.T) {
	for _, fd := range []time.Duration{10, 20, 40, 60} {
		fd := fd * time.Millisecond
		for _, p := range encodeTone(t, media.EncoderConfig{FrameDuration: fd}, 3) {
			if d, err := media.PacketDuration(p); err != nil || d != fd {
				t.Errorf("PacketDuration = %v, %v; want %v", d, err, fd)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x03}, {0x03, 0x00}, {0x02, 0xff}, {0x01, 1, 2, 3}} {
		if _, err := media.PacketDuration(bad); !errors.Is(err, media.ErrBadPacket) {
			t.Errorf("PacketDuration(%x) = %v, want ErrBadPacket", bad, err)
		}
		if media.HasFEC(bad) {
			t.Errorf("HasFEC(%x) = true", bad)
		}
	}
}

func FuzzPacketDuration(f *testing.F) {
	for _, p := range encodeTone(f, media.EncoderConfig{FrameDuration: 60 * time.Millisecond}, 2) {
		f.Add(p)
	}
	f.Add([]byte{0xfb, 0xc3, 0xff, 0x01, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := media.PacketDuration(p)
		if err == nil && (d <= 0 || d > 120*time.Millisecond) {
			t.Fatalf("duration %v", d)
		}
		_ = media.HasFEC(p)
	})
}
