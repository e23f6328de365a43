package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// ptyProc is a lokicall process on a pseudo-terminal and everything it has
// drawn on it.
type ptyProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	tty  *os.File

	mu      sync.Mutex
	screen  bytes.Buffer
	changed chan struct{} // closed and replaced on every read
	eof     bool
	done    chan struct{}
	err     error
}

func startPty(t *testing.T, ctx context.Context, name, exe string, args ...string) *ptyProc {
	t.Helper()
	return startPtyEnv(t, ctx, name, exe, os.Environ(), args...)
}

// startPtyEnv is startPty with the environment env.
func startPtyEnv(t *testing.T, ctx context.Context, name, exe string, env []string, args ...string) *ptyProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(env, "TERM=xterm", "LOKICALL_CONFIG=")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 220})
	if err != nil {
		t.Fatalf("%s: start on a pty: %v", name, err)
	}
	p := &ptyProc{t: t, name: name, cmd: cmd, tty: tty, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.screen.Write(buf[:n])
			close(p.changed)
			p.changed = make(chan struct{})
			if err != nil {
				p.eof = true
			}
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		_ = tty.Close()
		if t.Failed() || testing.Verbose() {
			t.Logf("%s's terminal:\n%q", name, p.text())
		}
	})
	return p
}

func (p *ptyProc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.String()
}

// waitFor waits until the terminal output after offset from matches re and
// returns the match and the offset after it.
func (p *ptyProc) waitFor(ctx context.Context, from int, re *regexp.Regexp) ([]string, int) {
	p.t.Helper()
	for {
		p.mu.Lock()
		out := p.screen.String()
		changed, eof := p.changed, p.eof
		p.mu.Unlock()
		if from > len(out) {
			from = len(out)
		}
		if loc := re.FindStringSubmatchIndex(out[from:]); loc != nil {
			var groups []string
			for i := 0; i < len(loc); i += 2 {
				groups = append(groups, out[from+loc[i]:from+loc[i+1]])
			}
			return groups, from + loc[1]
		}
		if eof {
			p.t.Fatalf("%s: terminal closed before %q appeared", p.name, re)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.t.Fatalf("%s: %q did not appear: %v", p.name, re, ctx.Err())
		}
	}
}

func (p *ptyProc) press(key string) {
	p.t.Helper()
	if _, err := io.WriteString(p.tty, key); err != nil {
		p.t.Fatalf("%s: type %q: %v", p.name, key, err)
	}
}

func (p *ptyProc) wait(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.t.Fatalf("%s did not exit: %v", p.name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

func writeConfig(t *testing.T, contacts map[string]lokinet.Address) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[contacts]\n")
	for n, a := range contacts {
		fmt.Fprintf(&b, "%s = %q\n", n, a.String())
	}
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freeTCPPort(t *testing.T, ip netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Skipf("no free port on %v (is 127.0.0.0/8 on lo?): %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestE2EPtyRingPromptStatusLineAndKeys drives both ends of a call through
// pseudo-terminals, as a person would: `listen --accept ask` rings with the
// caller's contact name and asks; y answers; both status lines show the
// call's figures; m mutes (the caller then hears silence, not the callee's
// tone); q hangs up, and both sides say how the call ended and exit 0.
func TestE2EPtyRingPromptStatusLineAndKeys(t *testing.T) {
	exe := buildLokicall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	aliceIP, bobIP := netip.MustParseAddr("127.77.6.1"), netip.MustParseAddr("127.77.6.2")
	alice, bob := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	aliceDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: alice, SelfIP: aliceIP,
		Peers: map[string]netip.Addr{bob.String(): bobIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer aliceDNS.Close()
	bobDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{Self: bob, SelfIP: bobIP,
		Peers: map[string]netip.Addr{alice.String(): aliceIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer bobDNS.Close()
	port := freeTCPPort(t, bobIP)
	heard := filepath.Join(t.TempDir(), "alice-heard.wav")

	callee := startPty(t, ctx, "bob", exe, "--config", writeConfig(t, map[string]lokinet.Address{"alice": alice}),
		"--lokinet-dns", bobDNS.Addr(), "listen", "--accept", "ask", "--calls", "1",
		"--port", strconv.Itoa(port), "--in", "tone:660", "--out", "null")
	_, bobAt := callee.waitFor(ctx, 0, regexp.MustCompile(`listening as`))

	caller := startPty(t, ctx, "alice", exe, "--config", writeConfig(t, map[string]lokinet.Address{"bob": bob}),
		"--lokinet-dns", aliceDNS.Addr(), "call", "bob:"+strconv.Itoa(port), "--in", "tone:440", "--out", "file:"+heard)

	// The prompt names the caller by contact name and short address.
	callee.waitFor(ctx, bobAt, regexp.MustCompile(`Incoming call from alice \(`+regexp.QuoteMeta(shortAddress(alice.String()))+`\) — answer\? \[y/N\] \d+s`))
	caller.waitFor(ctx, 0, regexp.MustCompile(`ringing 0:\d\d  bob`))
	callee.press("y")

	// Both status lines, with every field, once live figures arrive.
	fields := `● active (\d+):(\d\d)  %s  rtt \d+ms  jitter \d+ms  loss [\d.]+%%  buffer \d+ms  MOS [\d.]+  mic [▮▯]{5} `
	_, callerAt := caller.waitFor(ctx, 0, regexp.MustCompile(fmt.Sprintf(fields, "bob")+`.*m mute  q hang up`))
	_, bobAt = callee.waitFor(ctx, bobAt, regexp.MustCompile(fmt.Sprintf(fields, "alice")+`.*m mute  q hang up`))

	callee.press("m")
	m, bobAt := callee.waitFor(ctx, bobAt, regexp.MustCompile(`● active (\d+):(\d\d)  alice .*\[MUTED\]  m unmute  q hang up`))
	mutedAt := clockSeconds(m[1], m[2])
	// Let two seconds of muted audio reach alice, by the call's own clock.
	bobAt = callee.waitClock(ctx, bobAt, regexp.MustCompile(`● active (\d+):(\d\d)  alice .*\[MUTED\]`), mutedAt+3)
	bobHangsUp(ctx, t, callee, caller, bobAt, callerAt)

	// What alice heard: bob's 660 Hz tone, then (muted) silence at the end.
	pcm, rate, err := media.ReadWAV(heard)
	if err != nil {
		t.Fatal(err)
	}
	win := rate / 2
	if len(pcm) < 6*win {
		t.Fatalf("alice heard only %.1f s", float64(len(pcm))/float64(rate))
	}
	toneAt := -1
	for i := 0; i+win <= len(pcm); i += win {
		if f := media.DominantFrequency(pcm[i:i+win], rate); math.Abs(f-660) < 5 && rms(pcm[i:i+win]) > 1000 {
			toneAt = i
			break
		}
	}
	if toneAt < 0 {
		t.Errorf("alice never heard bob's 660 Hz tone")
	}
	// The last second before the end: muted, so (near) silence. The jitter
	// buffer and the hang-up add well under a second after the mute.
	tail := pcm[len(pcm)-2*win : len(pcm)-win/2]
	if r := rms(tail); r > 100 {
		t.Errorf("after mute alice still heard sound (RMS %.0f)", r)
	}
}

// waitClock waits until a status line matching re (whose first two groups
// are the call's clock) shows at least secs, and returns the offset after it.
func (p *ptyProc) waitClock(ctx context.Context, from int, re *regexp.Regexp, secs int) int {
	p.t.Helper()
	for {
		var m []string
		m, from = p.waitFor(ctx, from, re)
		if clockSeconds(m[1], m[2]) >= secs {
			return from
		}
	}
}

// bobHangsUp presses q on the callee's terminal; both sides must say who
// ended the call and exit 0.
func bobHangsUp(ctx context.Context, t *testing.T, callee, caller *ptyProc, bobAt, callerAt int) {
	t.Helper()
	callee.press("q")
	callee.waitFor(ctx, bobAt, regexp.MustCompile(`you hung up; the call with alice \(.*\) lasted \d+:\d\d`))
	caller.waitFor(ctx, callerAt, regexp.MustCompile(`bob hung up; the call lasted \d+:\d\d`))
	if code := callee.wait(ctx); code != 0 {
		t.Errorf("callee exit %d, want 0", code)
	}
	if code := caller.wait(ctx); code != 0 {
		t.Errorf("caller exit %d, want 0", code)
	}
}

func clockSeconds(min, sec string) int {
	m, _ := strconv.Atoi(min)
	s, _ := strconv.Atoi(sec)
	return 60*m + s
}

func rms(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}
