package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/demo"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// The ALSA configuration of TestE2EALSAFilePlugin, written to
// $HOME/.asoundrc of both processes (alsa.conf, kept as the system has it,
// reads ~/.asoundrc). Both PCMs are ALSA's file plugin over the null PCM:
// capture reads the raw samples of infile in place of the null PCM's zeros,
// playback writes every sample played to file. The null PCM accepts S16_LE,
// mono and 48 kHz as they are, so miniaudio opens the plugin directly: no
// "plug" wrapper, no mmap emulation and no conversion are needed (miniaudio
// reads and writes with snd_pcm_readi/writei). The hints make the two PCMs
// show in the device list, where device:NAME finds them by ALSA name.
//
// The null PCM has no clock (alsa-lib 1.2.8 reports a full buffer at every
// poll), so these devices would move audio as fast as miniaudio asks; the
// media package detects a device that runs at more than twice real time and
// paces its callback by the system clock (media/device.go, clocklessAfter).
// Capture and playback then share the one system clock of this machine:
// there is no drift between them to handle, and any that the pacing's
// scheduling jitter leaves is what the playback ring's trimming absorbs.
const asoundrc = `pcm.lokicall_capture {
	type file
	slave.pcm "null"
	format "raw"
	infile "%[1]s"
	file "/dev/null"
	hint { show on description "lokicall test capture (file plugin)" }
}
pcm.lokicall_playback {
	type file
	slave.pcm "null"
	format "raw"
	file "%[2]s"
	hint { show on description "lokicall test playback (file plugin)" }
}
`

// The caller's signal: a 440 Hz tone broken by chirp clicks at irregular
// intervals, so that one offset between the capture stream and the playback
// stream lines all clicks up and no other does. Each click replaces the
// tone, with 10 ms of silence either side. The caller sends at 64 kbit/s:
// at the default 32 kbit/s Opus (SILK and hybrid modes) keeps only about
// half of such short chirps riding on a steady tone (the normalized
// correlation is either about 0.9 or about 0, with no packet lost), which
// would measure the codec, not the devices; at 64 kbit/s every one survives.
const (
	alsaToneHz       = 440
	alsaToneAmp      = 4000
	alsaSignalLength = 30 * time.Second
	alsaTalk         = 6 * time.Second
	alsaBitrate      = "64000"
	alsaClickLength  = 10 * time.Millisecond
	alsaNotch        = media.SampleRate / 100 // 10 ms
)

// alsaClick is one click: a Hann-windowed linear chirp from 500 Hz to 3 kHz.
func alsaClick() []int16 {
	n := int(alsaClickLength.Seconds() * media.SampleRate)
	out := make([]int16, n)
	const f0, f1 = 500.0, 3000.0
	dur := float64(n) / media.SampleRate
	for i := range out {
		t := float64(i) / media.SampleRate
		phase := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*dur))
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		out[i] = int16(math.Round(12000 * w * math.Sin(phase)))
	}
	return out
}

// alsaSignal returns the caller's capture signal and its click positions.
func alsaSignal() ([]int16, []int) {
	n := int(alsaSignalLength.Seconds() * media.SampleRate)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(alsaToneAmp * math.Sin(2*math.Pi*alsaToneHz*float64(i)/media.SampleRate))
	}
	click := alsaClick()
	rng := rand.New(rand.NewPCG(3, 11))
	var clicks []int
	for p := media.SampleRate / 10; p+len(click)+alsaNotch < n; p += media.SampleRate * (150 + rng.IntN(200)) / 1000 {
		clicks = append(clicks, p)
		clear(pcm[p-alsaNotch : p+len(click)+alsaNotch])
		copy(pcm[p:], click)
	}
	return pcm, clicks
}

// TestE2EALSAFilePlugin (issue 3, point 1): a call between two processes
// whose audio goes through real ALSA devices. ALSA's file plugin stands in
// for the sound card: the caller captures from lokicall_capture, which reads
// a raw file holding a tone and a click train; the callee plays to
// lokicall_playback, which writes a raw file. The callee's file must hold
// the tone for most of the call and the clicks at one stable offset.
func TestE2EALSAFilePlugin(t *testing.T) {
	exe := buildLokicall(t)
	if runtime.GOOS != "linux" {
		t.Skip("ALSA is Linux only")
	}
	home := t.TempDir()
	in, out := filepath.Join(home, "capture.raw"), filepath.Join(home, "playback.raw")
	signal, clicks := alsaSignal()
	if err := os.WriteFile(in, rawBytes(signal), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), fmt.Appendf(nil, asoundrc, in, out), 0o644); err != nil {
		t.Fatal(err)
	}
	env := alsaEnv(home)

	// The devices are listed, with their ALSA names as IDs.
	var listing bytes.Buffer
	ls := exec.Command(exe, "devices", "--json")
	ls.Env, ls.Stdout = env, &listing
	if err := ls.Run(); err != nil {
		t.Fatalf("lokicall devices (is libasound2 installed? make deps): %v", err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(listing.String()) {
		var d deviceEntry
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("devices --json: %q: %v", line, err)
		}
		seen[d.Kind+" "+d.Type+" "+d.ID] = true
	}
	for _, want := range []string{"device capture lokicall_capture", "device playback lokicall_playback"} {
		if !seen[want] {
			t.Fatalf("devices --json lists no %q:\n%s", want, listing.String())
		}
	}

	caller, callee := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	callerDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: caller, SelfIP: demo.CallerIP, Peers: map[string]netip.Addr{callee.String(): demo.CalleeIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer callerDNS.Close()
	calleeDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: callee, SelfIP: demo.CalleeIP, Peers: map[string]netip.Addr{caller.String(): demo.CallerIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer calleeDNS.Close()
	port := alsaFreePort(t, demo.CalleeIP)

	var wg sync.WaitGroup
	defer wg.Wait()                                                                  // after cancel: no logging once the test has ended
	ctx, cancel := context.WithTimeout(context.Background(), alsaTalk+2*time.Minute) // a hang guard
	defer cancel()
	listening := make(chan struct{})
	var once sync.Once
	calleeCmd, calleeErr := alsaPeer(ctx, t, &wg, "callee", exe, env, calleeDNS.Addr(), func(ev call.Event) {
		if ev.Kind == call.EventListen {
			once.Do(func() { close(listening) })
		}
	}, "listen", "--port", strconv.Itoa(port), "--accept", "auto", "--calls", "1",
		"--in", "tone:660", "--out", "device:lokicall_playback")
	calleeDone := make(chan error, 1)
	go func() { calleeDone <- calleeCmd.Wait() }()
	select {
	case <-listening:
	case err := <-calleeDone:
		wg.Wait()
		t.Fatalf("callee exited before listening: %v\n%s", err, calleeErr)
	case <-ctx.Done():
		t.Fatal("callee never listened")
	}
	callerCmd, callerErr := alsaPeer(ctx, t, &wg, "caller", exe, env, callerDNS.Addr(), nil,
		"call", fmt.Sprintf("%s:%d", callee, port),
		"--in", "device:lokicall_capture", "--out", "null", "--duration", alsaTalk.String(), "--bitrate", alsaBitrate)
	if err := callerCmd.Wait(); err != nil {
		t.Errorf("caller: %v\n%s", err, callerErr)
	}
	if err := <-calleeDone; err != nil {
		t.Errorf("callee: %v\n%s", err, calleeErr)
	}
	wg.Wait()
	for _, l := range strings.Split(calleeErr.String(), "\n") {
		if strings.Contains(l, "media: device") || strings.Contains(l, "jitter buffer") || strings.Contains(l, "behind") {
			t.Logf("callee: %s", l)
		}
	}
	for _, l := range strings.Split(callerErr.String(), "\n") {
		if strings.Contains(l, "media: device") {
			t.Logf("caller: %s", l)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the playback device wrote nothing: %v", err)
	}
	played := pcmFromRaw(raw)
	t.Logf("callee's playback device wrote %.2f s", float64(len(played))/media.SampleRate)

	// The tone: the dominant frequency of each 100 ms of the playback file.
	const win = media.SampleRate / 10
	toneWins := 0
	for i := 0; i+win <= len(played); i += win {
		if math.Abs(media.DominantFrequency(played[i:i+win], media.SampleRate)-alsaToneHz) <= 10 {
			toneWins++
		}
	}
	toneSec := float64(toneWins) * win / media.SampleRate
	t.Logf("440 Hz dominant in %.1f s of a %.0f s call (%.0f%%)", toneSec, alsaTalk.Seconds(), 100*toneSec/alsaTalk.Seconds())
	if toneSec < 0.85*alsaTalk.Seconds() {
		t.Errorf("the tone was heard for %.1f s of a %.0f s call", toneSec, alsaTalk.Seconds())
	}

	// The clicks: every click found in the playback file votes for its
	// offset to each click of the capture signal; the true offset gathers
	// the votes of all of them. The adaptive jitter buffer may shift the
	// offset by whole frames when it grows or shrinks (it did so once in
	// some runs here, at 1.6 s: "shrinking by one frame"), so a click counts
	// as matched at the modal offset plus or minus up to three frames.
	peaks := clickPeaks(alsaClick(), played, 0.6, media.SampleRate/10)
	votes := map[int]int{}
	for _, q := range peaks {
		for _, p := range clicks {
			votes[msBin(q-p)]++
		}
	}
	best, bestVotes := 0, 0
	for b, v := range votes {
		if v > bestVotes || v == bestVotes && b < best {
			best, bestVotes = b, v
		}
	}
	mode := best * media.SampleRate / 1000
	const frame = media.SampleRate / 50 // 20 ms, the jitter buffer's step
	type match struct{ p, d, k int }
	var matched []match
	for _, q := range peaks {
		for _, p := range clicks {
			d := q - p
			k := int(math.Round(float64(d-mode) / frame))
			if abs(k) <= 3 && abs(d-mode-k*frame) <= 2*media.SampleRate/1000 {
				matched = append(matched, match{p, d, k})
				break
			}
		}
	}
	if len(matched) == 0 {
		t.Fatalf("no click of the capture signal found in the playback file (%d correlation peaks)", len(peaks))
	}
	// The clicks the caller's capture device read during the call: those
	// in the call's length of signal from the first matched click.
	first, last := matched[0].p, matched[len(matched)-1].p
	span := int(alsaTalk.Seconds() * media.SampleRate)
	expected := 0
	for _, p := range clicks {
		if p >= first && p < first+span {
			expected++
		}
	}
	atMode, steps := 0, 0
	lo, hi := matched[0].d-matched[0].k*frame, matched[0].d-matched[0].k*frame
	for i, m := range matched {
		if m.k == 0 {
			atMode++
		}
		if i > 0 && m.k != matched[i-1].k {
			steps++
		}
		lo, hi = min(lo, m.d-m.k*frame), max(hi, m.d-m.k*frame)
	}
	frac := min(1, float64(len(matched))/float64(max(expected, 1)))
	t.Logf("clicks: %d of the %d read during the call found in the playback file (%.0f%%), %d correlation peaks; "+
		"offset capture→playback %.2f ms (%d of them), %d jitter-buffer steps of 20 ms, spread %.2f ms; clicks span %.2f s of signal",
		len(matched), expected, 100*frac, len(peaks), float64(mode)/48, atMode, steps, float64(hi-lo)/48, float64(last-first)/media.SampleRate)
	if frac < 0.85 {
		t.Errorf("only %d of %d clicks reached the playback file", len(matched), expected)
	}
	if extra := len(peaks) - len(matched); extra*10 > len(peaks) {
		t.Errorf("%d of %d correlation peaks match no click of the signal", extra, len(peaks))
	}
	if atMode*2 < len(matched) {
		t.Errorf("only %d of %d clicks at the modal offset: the delay was not stable", atMode, len(matched))
	}
}

// alsaEnv is this process's environment with HOME replaced, and without
// ALSA_CONFIG_PATH, which would keep alsa.conf from reading ~/.asoundrc.
func alsaEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "ALSA_CONFIG_PATH=") &&
			!strings.HasPrefix(kv, "XDG_CONFIG_HOME=") && !strings.HasPrefix(kv, "LOKICALL_") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home)
}

// alsaPeer starts one lokicall process with --json and debug logging,
// handing its events to onEvent; its stderr is returned.
func alsaPeer(ctx context.Context, t *testing.T, wg *sync.WaitGroup, role, exe string, env []string, dns string,
	onEvent func(call.Event), args ...string) (*exec.Cmd, *safeBuffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, exe, append([]string{"--json", "--log-level", "debug", "--lokinet-dns", dns}, args...)...)
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stderr := &safeBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev call.Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			if ev.Kind == call.EventStats && ev.Stats != nil {
				st := ev.Stats
				t.Logf("%s: stats: media %.0f ms, packets sent %d received %d lost %d, frames played %d concealed %d recovered %d, jitter buffer %.0f ms, jitter %.1f ms",
					role, st.MediaMS, st.PacketsSent, st.PacketsReceived, st.PacketsLost,
					st.FramesPlayed, st.FramesConcealed, st.FramesRecovered, st.JitterBufferMS, st.JitterMS)
			}
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}()
	return cmd, stderr
}

func alsaFreePort(t *testing.T, ip netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Skipf("no %v on the loopback interface: %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// clickPeaks returns where tmpl correlates with out at a normalized score of
// at least minScore, the best position per stretch of minGap samples.
func clickPeaks(tmpl, out []int16, minScore float64, minGap int) []int {
	n := len(tmpl)
	if len(out) < n {
		return nil
	}
	var tEnergy float64
	for _, v := range tmpl {
		tEnergy += float64(v) * float64(v)
	}
	var wEnergy float64
	for _, v := range out[:n] {
		wEnergy += float64(v) * float64(v)
	}
	type peak struct {
		at    int
		score float64
	}
	var peaks []peak
	for q := 0; q+n <= len(out); q++ {
		if q > 0 {
			a, b := float64(out[q-1]), float64(out[q+n-1])
			wEnergy += b*b - a*a
		}
		if wEnergy < tEnergy*1e-2 {
			continue
		}
		var dot float64
		for i, v := range tmpl {
			dot += float64(v) * float64(out[q+i])
		}
		score := dot / math.Sqrt(tEnergy*wEnergy)
		if score < minScore {
			continue
		}
		if len(peaks) > 0 && q-peaks[len(peaks)-1].at < minGap {
			if score > peaks[len(peaks)-1].score {
				peaks[len(peaks)-1] = peak{q, score}
			}
			continue
		}
		peaks = append(peaks, peak{q, score})
	}
	at := make([]int, len(peaks))
	for i, p := range peaks {
		at[i] = p.at
	}
	return at
}

func rawBytes(pcm []int16) []byte {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func pcmFromRaw(b []byte) []int16 {
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// msBin is the 1 ms bin of an offset in samples.
func msBin(d int) int { return int(math.Round(float64(d) / 48)) }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// safeBuffer is a bytes.Buffer for a process's stderr.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
