package call

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/media"
)

// TestCallFrameSizes runs in-process calls at 10, 40 and 60 ms frames (20 ms
// is TestCallPrivacyAndAudio's): the callee hears the caller's tone, plays
// about one frame per frame duration, and the live statistics report the
// caller's microphone level and a jitter buffer target of whole frames.
func TestCallFrameSizes(t *testing.T) {
	for i, frame := range []time.Duration{10 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond} {
		t.Run(frame.String(), func(t *testing.T) {
			alice, bob := newPeers(t, "127.77.20."+strconv.Itoa(2*i+1), "127.77.20."+strconv.Itoa(2*i+2))
			wav := filepath.Join(t.TempDir(), "heard.wav")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			port := uint16(17800 + i)
			bcfg := bob.config("silence", "file:"+wav, 0)
			bcfg.Encoder.FrameDuration = frame
			done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll, MaxCalls: 1})
			acfg := alice.config("tone:440", "null", 2*time.Second)
			acfg.Encoder.FrameDuration = frame
			var mu sync.Mutex
			var lives []LiveStats
			acfg.OnStats = func(ls LiveStats) { mu.Lock(); lives = append(lives, ls); mu.Unlock() }
			target := bob.target(port)
			if _, err := Dial(ctx, acfg, target); err != nil {
				t.Fatalf("dial: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("callee: %v", err)
			}
			pcm, rate, err := media.ReadWAV(wav)
			if err != nil {
				t.Fatal(err)
			}
			secs := float64(len(pcm)) / float64(rate)
			if secs < 1.4 || secs > 3 {
				t.Errorf("callee recorded %.2f s, want about 2 s", secs)
			}
			if len(pcm)%int(frame*media.SampleRate/time.Second) != 0 {
				t.Errorf("callee recorded %d samples, not whole %v frames", len(pcm), frame)
			}
			if f := media.DominantFrequency(pcm, rate); math.Abs(f-440) > 5 {
				t.Errorf("callee heard %.1f Hz, want 440", f)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(lives) == 0 {
				t.Fatal("OnStats never called")
			}
			last := lives[len(lives)-1]
			t.Logf("live: %+v", last)
			if math.Abs(last.MicLevelDB+12) > 1.5 {
				t.Errorf("mic level %.1f dBFS, want about -12 (the tone)", last.MicLevelDB)
			}
			if last.State != StateActive || last.DurationMS <= 0 || last.FramesPlayed == 0 {
				t.Errorf("live stats %+v", last)
			}
			// A call runs at least its media, RTCP and live goroutines.
			if last.Goroutines < 3 {
				t.Errorf("live goroutines %d, want the process's count", last.Goroutines)
			}
			if tgt := time.Duration(last.JitterTargetMS * float64(time.Millisecond)); tgt < frame || tgt%frame != 0 {
				t.Errorf("jitter target %v, want whole %v frames", tgt, frame)
			}
		})
	}
}

// TestCallMixedFrameSizes: each side picks its own frame duration; the
// receiver paces playout to the peer's announced ptime, so a 40 ms caller and
// a 20 ms callee hear each other without concealment.
func TestCallMixedFrameSizes(t *testing.T) {
	alice, bob := newPeers(t, "127.77.21.1", "127.77.21.2")
	// A 20 ms stream played in 40 ms slots would not decode at all: every
	// frame concealed. A loaded machine conceals a few frames when the
	// playout thread runs late, so the check allows a quarter, and the
	// call is made again (up to three times) before it fails.
	for attempt := range 3 {
		stats := mixedFrameCall(t, alice, bob, uint16(17810+30*attempt))
		if stats.FramesPlayed > 0 && stats.FramesConcealed <= stats.FramesPlayed/4 {
			return
		}
		t.Logf("call %d: caller played %d frames, concealed %d", attempt+1, stats.FramesPlayed, stats.FramesConcealed)
		if attempt == 2 {
			t.Errorf("caller played %d frames, concealed %d: the 20 ms stream was not paced right", stats.FramesPlayed, stats.FramesConcealed)
		}
	}
}

// mixedFrameCall is one call of TestCallMixedFrameSizes on port: a 40 ms
// caller sends a 440 Hz tone for 2 s to a 20 ms callee sending 660 Hz; it
// checks what the callee heard and returns the caller's statistics.
func mixedFrameCall(t *testing.T, alice, bob *peer, port uint16) *Stats {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "heard.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bcfg := bob.config("tone:660", "file:"+wav, 0)
	bcfg.Encoder.FrameDuration = 20 * time.Millisecond
	done := listen(t, ctx, bob, ListenConfig{Config: bcfg, Port: port, Accept: AcceptAll, MaxCalls: 1})
	acfg := alice.config("tone:440", "null", 2*time.Second)
	acfg.Encoder.FrameDuration = 40 * time.Millisecond
	stats, err := Dial(ctx, acfg, bob.target(port))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("callee: %v", err)
	}
	pcm, rate, err := media.ReadWAV(wav)
	if err != nil {
		t.Fatal(err)
	}
	if secs := float64(len(pcm)) / float64(rate); secs < 1.4 || secs > 3 {
		t.Errorf("callee recorded %.2f s, want about 2 s", secs)
	}
	if f := media.DominantFrequency(pcm, rate); f < 435 || f > 445 {
		t.Errorf("callee heard %.1f Hz, want 440", f)
	}
	return stats
}
