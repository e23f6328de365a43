package call

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/lokicall/lokicall/ice"
	"github.com/lokicall/lokicall/media"
)

// loopbackTrack connects two plain pion peer connections over loopback
// (DTLS-SRTP, real UDP sockets) and returns the sending side's audio track
// once connected. The receiving side reads and discards RTP.
func loopbackTrack(b *testing.B) *webrtc.TrackLocalStaticSample {
	b.Helper()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(0)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.LoggerFactory = ice.LoggerFactory(nil)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	mk := func() *webrtc.PeerConnection {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = pc.Close() })
		return pc
	}
	a, z := mk(), mk()
	track, err := webrtc.NewTrackLocalStaticSample(ice.OpusCodec, "audio", "bench")
	if err != nil {
		b.Fatal(err)
	}
	sender, err := a.AddTrack(track)
	if err != nil {
		b.Fatal(err)
	}
	go drainRTCP(sender.Read)
	z.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go drainRTCP(r.Read)
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	up := make(chan struct{})
	a.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(up)
		}
	})
	offer, err := a.CreateOffer(nil)
	if err != nil {
		b.Fatal(err)
	}
	ga := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		b.Fatal(err)
	}
	<-ga
	if err := z.SetRemoteDescription(*a.LocalDescription()); err != nil {
		b.Fatal(err)
	}
	answer, err := z.CreateAnswer(nil)
	if err != nil {
		b.Fatal(err)
	}
	gz := webrtc.GatheringCompletePromise(z)
	if err := z.SetLocalDescription(answer); err != nil {
		b.Fatal(err)
	}
	<-gz
	if err := a.SetRemoteDescription(*z.LocalDescription()); err != nil {
		b.Fatal(err)
	}
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		b.Fatal("loopback peer connections did not connect")
	}
	return track
}

func pctCore(b *testing.B, frame time.Duration) {
	b.ReportMetric(100*float64(b.Elapsed())/float64(b.N)/float64(frame), "pct_core")
}

// BenchmarkSendPath is the send side of one 20 ms frame as a call runs it:
// take a captured frame, meter it, encode with lokicall's Opus settings, WriteSample into a
// track of a connected pion peer connection (RTP, SRTP, UDP). Baseline is
// pion's raw sample path in the same setup: WriteSample of a pre-encoded
// payload of the same size. The ratio of the two is lokicall's cost over
// pion's; pct_core is the share of one core per call.
func BenchmarkSendPath(b *testing.B) {
	frame := media.FrameDuration
	b.Run("baseline-pion-raw", func(b *testing.B) {
		track := loopbackTrack(b)
		enc, err := media.NewEncoder(media.EncoderConfig{})
		if err != nil {
			b.Fatal(err)
		}
		pcm := make([]int16, enc.FrameSamples())
		if err := media.NewBabble().ReadFrame(context.Background(), pcm); err != nil {
			b.Fatal(err)
		}
		payload, err := enc.Encode(pcm)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := track.WriteSample(pionmedia.Sample{Data: payload, Duration: frame}); err != nil {
				b.Fatal(err)
			}
		}
		pctCore(b, frame)
	})
	b.Run("lokicall", func(b *testing.B) {
		track := loopbackTrack(b)
		enc, err := media.NewEncoder(media.EncoderConfig{})
		if err != nil {
			b.Fatal(err)
		}
		// Babble is costly to synthesize; a microphone hands over frames
		// for free, so cycle through pre-made ones.
		src := media.NewBabble()
		frames := make([][]int16, 50)
		for i := range frames {
			frames[i] = make([]int16, enc.FrameSamples())
			if err := src.ReadFrame(context.Background(), frames[i]); err != nil {
				b.Fatal(err)
			}
		}
		var level media.Meter
		pcm := make([]int16, enc.FrameSamples())
		for i := 0; b.Loop(); i++ {
			copy(pcm, frames[i%len(frames)])
			level.Update(pcm)
			payload, err := enc.Encode(pcm)
			if err != nil {
				b.Fatal(err)
			}
			if err := track.WriteSample(pionmedia.Sample{Data: payload, Duration: frame}); err != nil {
				b.Fatal(err)
			}
		}
		pctCore(b, frame)
	})
}
