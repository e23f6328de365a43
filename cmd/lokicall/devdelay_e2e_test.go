package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/measure"
	"github.com/lokicall/lokicall/media"
)

// anchorLine is the media package's debug line that maps a clockless
// device's stream to the system clock, from its sample on; a device that
// fell behind logs another.
var anchorLine = regexp.MustCompile(`device has no clock of its own.* kind=(capture|playback) .*anchor_unix_ns=(\d+) anchor_sample=(\d+)`)

// deviceStamps turns the anchors of kind in a process's debug log into
// stamps covering the device's stream from the first anchor on: sample k is
// due at anchor + (k - anchor_sample)/48 kHz of the last anchor at or before
// it. For capture, a stamp's time is when its last sample was captured
// (measure's convention); for playback, when its first was played. The
// test logs how many anchors followed the first (stalls of the device).
func deviceStamps(t *testing.T, log, kind string) []measure.Stamp {
	t.Helper()
	type anchor struct {
		at     time.Time
		sample int64
	}
	var anchors []anchor
	for _, m := range anchorLine.FindAllStringSubmatch(log, -1) {
		if m[1] != kind {
			continue
		}
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		sample, _ := strconv.ParseInt(m[3], 10, 64)
		anchors = append(anchors, anchor{time.Unix(0, ns), sample})
	}
	if len(anchors) == 0 {
		t.Fatalf("no %s device anchor in the log", kind)
	}
	if len(anchors) > 1 {
		t.Logf("the %s device fell behind and was anchored again %d times", kind, len(anchors)-1)
	}
	const span = 10 * 60 * media.SampleRate // ten minutes
	var stamps []measure.Stamp
	for i, a := range anchors {
		n := int64(span)
		if i+1 < len(anchors) {
			n = anchors[i+1].sample - a.sample
		}
		at := a.at
		if kind == "capture" {
			at = at.Add(time.Duration(n) * time.Second / media.SampleRate)
		}
		stamps = append(stamps, measure.Stamp{Sample: a.sample, Samples: int(n), Time: at})
	}
	return stamps
}

// trainFloor is the peak of the noise floor under deviceTrain's clicks:
// ±8 LSB, about -76 dBFS RMS, below a real microphone's own noise.
const trainFloor = 8

// trainBitrate is the caller's Opus bitrate in TestE2EDeviceMouthToEar's
// calls. At the default 32 kbit/s some 20 ms frame phases of a 5 ms click
// lose its shape even over the noise floor (measure's correlation falls
// under its threshold); at 64 kbit/s none does, which
// TestDeviceTrainSurvivesOpusAtAnyFramePhase checks.
const trainBitrate = 64000

// deviceTrain returns length of the click train shaped by clicks over a
// faint noise floor. Over digital silence Opus all but erases a click that
// starts in some phases of its 20 ms frames (the decoded peak falls from
// about 15000 to about 30, and measure finds nothing). The file baseline's
// clicks always start on a frame boundary, but a capture device's frames
// start wherever its stream was when the call began, which the machine's
// load shifts. A microphone never delivers digital silence, so the floor
// keeps the signal a real one's, and every phase measures alike.
func deviceTrain(t testing.TB, clicks measure.ClickConfig, length time.Duration) []int16 {
	t.Helper()
	train := make([]int16, int(length.Seconds()*media.SampleRate))
	if err := measure.NewClickTrain(clicks).ReadFrame(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 17))
	for i := range train {
		train[i] += int16(rng.IntN(2*trainFloor+1) - trainFloor)
	}
	return train
}

// TestDeviceTrainSurvivesOpusAtAnyFramePhase: the click train of
// TestE2EDeviceMouthToEar, encoded at trainBitrate and decoded, starting at
// any of 48 phases of its 20 ms frames, still shows every click to
// measure.Analyze. Over digital silence (trainFloor 0) 6 of the 48 phases
// lose clicks at 64 kbit/s, and more at 32 kbit/s.
func TestDeviceTrainSurvivesOpusAtAnyFramePhase(t *testing.T) {
	clicks := measure.ClickConfig{Period: 500 * time.Millisecond, Offset: 100 * time.Millisecond}
	const frame = media.SampleRate / 50
	train := deviceTrain(t, clicks, 2*time.Second+20*time.Millisecond)
	for phase := 0; phase < frame; phase += frame / 48 {
		enc, err := media.NewEncoder(media.EncoderConfig{Bitrate: trainBitrate})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := media.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		var out []int16
		pcm := make([]int16, frame)
		for i := phase; i+frame <= len(train); i += frame {
			pkt, err := enc.Encode(train[i : i+frame])
			if err != nil {
				t.Fatal(err)
			}
			n, err := dec.Decode(pkt, pcm)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pcm[:n]...)
		}
		// Sample phase of the train was captured at start, the decoded
		// audio played from 50 ms later: each click's delay is those
		// 50 ms plus the codec's.
		start := time.Unix(1000, 0)
		capture := []measure.Stamp{{Sample: int64(phase), Samples: len(out), Time: start.Add(time.Duration(len(out)) * time.Second / media.SampleRate)}}
		playout := []measure.Stamp{{Sample: 0, Samples: len(out), Time: start.Add(50 * time.Millisecond)}}
		res, err := measure.Analyze(clicks, capture, out, playout)
		want := 4 // clicks at 0.1, 0.6, 1.1 and 1.6 s
		if err != nil || len(res.Clicks) < want {
			t.Errorf("frame phase %d samples: %d of %d clicks survive the codec (%v)", phase, len(res.Clicks), want, err)
		}
	}
}

// TestE2EDeviceMouthToEar measures what the sound devices add to
// mouth-to-ear delay: two calls in the same run carry the same click train,
// one from a WAV file to a WAV file (the baseline: times at the pipeline's
// edges, from --capture-stamps and --playout-stamps), one from the caller's
// default capture device to the callee's default playback device, both
// ALSA's file plugin (times at the devices' edges: when the capture device
// handed over a click, when the playback device took it). The devices add
// their periods and the playback ring's margin; the median must stay under
// 80 ms more than the baseline (a 10 ms capture period, the ring's 40 ms
// start level, a 10 ms playback period and scheduling).
func TestE2EDeviceMouthToEar(t *testing.T) {
	exe := buildLokicall(t)
	clicks := measure.ClickConfig{Period: 500 * time.Millisecond, Offset: time.Second}
	const length = 10 * time.Second
	train := deviceTrain(t, clicks, 30*time.Second)
	dir := t.TempDir()
	trainWAV := filepath.Join(dir, "train.wav")
	if err := media.WriteWAV(trainWAV, train, media.SampleRate); err != nil {
		t.Fatal(err)
	}
	aliceIP, bobIP := netip.MustParseAddr("127.77.6.9"), netip.MustParseAddr("127.77.6.10")
	_, bob, aliceDNS, bobDNS := lokinetPair(t, aliceIP, bobIP)

	// talk runs one call; the caller and callee arguments pick the audio.
	talk := func(name string, callerEnv, calleeEnv []string, callerAudio, calleeAudio []string) (callerLog, calleeLog string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), length+time.Minute)
		defer cancel()
		port := freeTCPPort(t, bobIP)
		var wg sync.WaitGroup
		defer wg.Wait()
		listening := make(chan struct{})
		var once sync.Once
		callee, calleeErr := alsaPeer(ctx, t, &wg, name+" callee", exe, calleeEnv, bobDNS, func(ev call.Event) {
			if ev.Kind == call.EventListen {
				once.Do(func() { close(listening) })
			}
		}, append([]string{"listen", "--port", strconv.Itoa(port), "--accept", "auto", "--calls", "1"}, calleeAudio...)...)
		select {
		case <-listening:
		case <-ctx.Done():
			t.Fatalf("%s: callee never listened: %s", name, calleeErr)
		}
		caller, callerErr := alsaPeer(ctx, t, &wg, name+" caller", exe, callerEnv, aliceDNS, nil,
			append([]string{"call", fmt.Sprintf("%s:%d", bob, port), "--duration", length.String()}, callerAudio...)...)
		if err := caller.Wait(); err != nil {
			t.Fatalf("%s: caller: %v\n%s", name, err, callerErr)
		}
		if err := callee.Wait(); err != nil {
			t.Fatalf("%s: callee: %v\n%s", name, err, calleeErr)
		}
		wg.Wait()
		return callerErr.String(), calleeErr.String()
	}
	median := func(name string, res measure.Result, err error) time.Duration {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The first 3 s let the adaptive jitter buffer settle.
		s := measure.Summarize(res.Delays(6))
		t.Logf("%-28s %2d clicks (%d missing): min %6.1f  median %6.1f  p90 %6.1f  max %6.1f ms", name, s.N, res.Missing,
			millis(s.Min), millis(s.Median), millis(s.P90), millis(s.Max))
		if s.N < int(length/clicks.Period)/2 {
			t.Fatalf("%s: only %d clicks measured", name, s.N)
		}
		return s.Median
	}

	// The baseline: file to file.
	env := alsaEnv(t.TempDir())
	capCSV, heard, playCSV := filepath.Join(dir, "capture.csv"), filepath.Join(dir, "heard.wav"), filepath.Join(dir, "playout.csv")
	talk("file", env, env,
		[]string{"--in", "file:" + trainWAV, "--out", "null", "--capture-stamps", capCSV, "--bitrate", strconv.Itoa(trainBitrate)},
		[]string{"--in", "silence", "--out", "file:" + heard, "--playout-stamps", playCSV})
	res, err := measure.AnalyzeFiles(clicks, capCSV, heard, playCSV)
	base := median("file to file (baseline)", res, err)

	// The devices: the train is the caller's capture file.
	aliceEnv, _ := soundCard(t, train)
	bobEnv, bobPlayed := soundCard(t, nil)
	callerLog, calleeLog := talk("device", aliceEnv, bobEnv, []string{"--out", "null", "--bitrate", strconv.Itoa(trainBitrate)}, []string{"--in", "silence"})
	raw, err := os.ReadFile(bobPlayed)
	if err != nil {
		t.Fatal(err)
	}
	res, err = measure.Analyze(clicks, deviceStamps(t, callerLog, "capture"), pcmFromRaw(raw), deviceStamps(t, calleeLog, "playback"))
	dev := median("device to device", res, err)

	added := dev - base
	t.Logf("the devices add %.1f ms to the median mouth-to-ear delay (%.1f ms against %.1f ms file to file)", millis(added), millis(dev), millis(base))
	if added > 80*time.Millisecond {
		t.Errorf("the devices add %.1f ms, want under 80 ms", millis(added))
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
