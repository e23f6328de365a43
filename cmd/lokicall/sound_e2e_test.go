package main

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// soundCardRC makes ALSA's file plugin the default sound card of a process
// (its $HOME/.asoundrc): capture reads the raw samples of the first file,
// playback writes every sample played to the second. See asoundrc.
const soundCardRC = asoundrc + `pcm.!default {
	type asym
	capture.pcm "lokicall_capture"
	playback.pcm "lokicall_playback"
}
`

// tonePCM returns a minute of a sine at hz.
func tonePCM(hz float64) []int16 {
	pcm := make([]int16, 60*media.SampleRate)
	for i := range pcm {
		pcm[i] = int16(alsaToneAmp * math.Sin(2*math.Pi*hz*float64(i)/media.SampleRate))
	}
	return pcm
}

// soundCard gives a process a home whose default sound card is the file
// plugin, capturing pcm; it returns the environment and the playback file.
func soundCard(t *testing.T, pcm []int16) ([]string, string) {
	t.Helper()
	home := t.TempDir()
	in, out := filepath.Join(home, "capture.raw"), filepath.Join(home, "playback.raw")
	if err := os.WriteFile(in, rawBytes(pcm), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), fmt.Appendf(nil, soundCardRC, in, out), 0o644); err != nil {
		t.Fatal(err)
	}
	// No PulseAudio server: the sound card is ALSA's default.
	return append(alsaEnv(home), "PULSE_SERVER=unix:"+filepath.Join(home, "no-pulse")), out
}

// toneRuns describes a playback file in 50 ms windows: for each, the
// dominant frequency when the window is not quiet, else 0.
func toneRuns(t *testing.T, path string) []float64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the playback device wrote nothing: %v", err)
	}
	pcm := pcmFromRaw(raw)
	const win = media.SampleRate / 20
	var out []float64
	for i := 0; i+win <= len(pcm); i += win {
		f := 0.0
		if rms(pcm[i:i+win]) > 300 {
			f = media.DominantFrequency(pcm[i:i+win], media.SampleRate)
		}
		out = append(out, f)
	}
	return out
}

// lokinetPair makes two nodes, each with its Lokinet-like DNS server that
// knows the other; it returns their addresses and the servers' addresses.
func lokinetPair(t *testing.T, aliceIP, bobIP netip.Addr) (alice, bob lokinet.Address, aliceDNS, bobDNS string) {
	t.Helper()
	alice, bob = lokinettest.RandomAddress(), lokinettest.RandomAddress()
	for _, n := range []struct {
		self, peer     lokinet.Address
		selfIP, peerIP netip.Addr
		dns            *string
	}{{alice, bob, aliceIP, bobIP, &aliceDNS}, {bob, alice, bobIP, aliceIP, &bobDNS}} {
		srv, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: n.self, SelfIP: n.selfIP,
			Peers: map[string]netip.Addr{n.peer.String(): n.peerIP}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		*n.dns = srv.Addr()
	}
	return alice, bob, aliceDNS, bobDNS
}

// TestE2EPtyDeclinedTone: a caller whose call is declined hears the
// declined tone (ITU-T E.180 congestion: 425 Hz, 0.25 s on, 0.25 s off)
// on its sound card, then reads the reason.
func TestE2EPtyDeclinedTone(t *testing.T) {
	exe := buildLokicall(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	aliceIP, bobIP := netip.MustParseAddr("127.77.6.7"), netip.MustParseAddr("127.77.6.8")
	alice, bob, aliceDNS, bobDNS := lokinetPair(t, aliceIP, bobIP)
	port := freeTCPPort(t, bobIP)
	aliceEnv, aliceHeard := soundCard(t, tonePCM(440))

	callee := startPty(t, ctx, "bob", exe, "--config", writeConfig(t, map[string]lokinet.Address{"alice": alice}),
		"--lokinet-dns", bobDNS, "listen", "--accept", "never", "--calls", "1", "--port", strconv.Itoa(port), "--in", "silence", "--out", "null")
	callee.waitFor(ctx, 0, regexp.MustCompile(`listening as`))
	caller := startPtyEnv(t, ctx, "alice", exe, aliceEnv, "--config", writeConfig(t, map[string]lokinet.Address{"bob": bob}),
		"--lokinet-dns", aliceDNS, "call", "bob:"+strconv.Itoa(port))
	start := time.Now()
	caller.waitFor(ctx, 0, regexp.MustCompile(`bob declined the call`))
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("the reason came %v after dialling, before the declined tone could play", took)
	}
	if code := caller.wait(ctx); code != exitRejected {
		t.Errorf("caller exit %d, want %d", code, exitRejected)
	}
	wins := toneRuns(t, aliceHeard)
	bursts, runs := 0, 0
	for i := range wins {
		if math.Abs(wins[i]-425) <= 10 {
			runs++
			continue
		}
		// A burst of 0.2 to 0.3 s (E.180: 0.25 s), in 50 ms windows.
		if runs >= 4 && runs <= 6 {
			bursts++
		}
		runs = 0
	}
	t.Logf("alice's sound card played %d bursts of the declined tone", bursts)
	if bursts < 4 {
		t.Errorf("alice heard %d bursts of the declined tone, want about 6", bursts)
	}
}

// TestE2EPtySoundCardsAndTones: two processes on pseudo-terminals whose
// default sound cards are ALSA's file plugin call each other with no --in
// or --out. While it rings, bob's playback file gets the ring and alice's
// the ringback (ITU-T E.180: 425 Hz, 1 s on, 4 s off); once answered each
// records the other's voice (the tone its capture file holds).
func TestE2EPtySoundCardsAndTones(t *testing.T) {
	exe := buildLokicall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	aliceIP, bobIP := netip.MustParseAddr("127.77.6.5"), netip.MustParseAddr("127.77.6.6")
	alice, bob, aliceDNS, bobDNS := lokinetPair(t, aliceIP, bobIP)
	port := freeTCPPort(t, bobIP)
	aliceEnv, aliceHeard := soundCard(t, tonePCM(440))
	bobEnv, bobHeard := soundCard(t, tonePCM(660))

	callee := startPtyEnv(t, ctx, "bob", exe, bobEnv, "--config", writeConfig(t, map[string]lokinet.Address{"alice": alice}),
		"--lokinet-dns", bobDNS, "listen", "--accept", "ask", "--calls", "1", "--port", strconv.Itoa(port))
	_, bobAt := callee.waitFor(ctx, 0, regexp.MustCompile(`listening as`))
	caller := startPtyEnv(t, ctx, "alice", exe, aliceEnv, "--config", writeConfig(t, map[string]lokinet.Address{"bob": bob}),
		"--lokinet-dns", aliceDNS, "call", "bob:"+strconv.Itoa(port))

	_, bobAt = callee.waitFor(ctx, bobAt, regexp.MustCompile(`Incoming call from alice .* answer\? \[y/N\]`))
	caller.waitFor(ctx, 0, regexp.MustCompile(`ringing 0:\d\d  bob`))
	time.Sleep(2500 * time.Millisecond) // a whole ring burst, and some of the pause
	callee.press("y")

	_, callerAt := caller.waitFor(ctx, 0, regexp.MustCompile(`● active (\d+):(\d\d)  bob`))
	bobAt = callee.waitClock(ctx, bobAt, regexp.MustCompile(`● active (\d+):(\d\d)  alice`), 4)
	bobHangsUp(ctx, t, callee, caller, bobAt, callerAt)

	for _, side := range []struct {
		who, file, tone string
		voice           float64
	}{{"alice", aliceHeard, "ringback", 660}, {"bob", bobHeard, "ring", 440}} {
		wins := toneRuns(t, side.file)
		near := func(f, want float64) bool { return math.Abs(f-want) <= 10 }
		firstVoice, voice := -1, 0
		for i, f := range wins {
			if near(f, side.voice) {
				if firstVoice < 0 {
					firstVoice = i
				}
				voice++
			}
		}
		if firstVoice < 0 {
			t.Errorf("%s never heard the other side's %.0f Hz voice", side.who, side.voice)
			continue
		}
		// Before the voice: the ring tone's first burst, 1 s of 425 Hz,
		// then its pause.
		longest, run, pause := 0, 0, 0
		for _, f := range wins[:firstVoice] {
			switch {
			case near(f, 425):
				run++
				longest = max(longest, run)
			case f == 0 && longest > 0:
				run = 0
				pause++
			default:
				run = 0
			}
		}
		t.Logf("%s: %s burst %.2f s then %.2f s of pause before the voice; voice %.2f s",
			side.who, side.tone, float64(longest)/20, float64(pause)/20, float64(voice)/20)
		if longest < 16 || longest > 22 {
			t.Errorf("%s's %s burst lasted %.2f s, want 1 s", side.who, side.tone, float64(longest)/20)
		}
		if pause < 6 {
			t.Errorf("%s's %s: only %.2f s of pause after the burst", side.who, side.tone, float64(pause)/20)
		}
		if voice < 50 {
			t.Errorf("%s heard the other side's voice for only %.2f s", side.who, float64(voice)/20)
		}
	}
}
