// Package demo runs a real call between two local lokicall processes with no
// Lokinet installed: each process gets its own stand-in DNS server that
// answers exactly as Lokinet's does, and loopback addresses stand in for the
// Lokinet range. Sockets, DTLS-SRTP and Opus are real.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lokicall/lokicall/call"
	"github.com/lokicall/lokicall/internal/exitstatus"
	"github.com/lokicall/lokicall/internal/freeport"
	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
	"github.com/lokicall/lokicall/media"
)

// The stand-in Lokinet addresses of the two peers. Both sit on the loopback
// interface, whose 127.0.0.0/8 range stands in for Lokinet's 172.16.0.0/16.
var (
	CallerIP = netip.MustParseAddr("127.77.0.1")
	CalleeIP = netip.MustParseAddr("127.77.0.2")
)

// Options configure a demo call.
type Options struct {
	// Executable is the lokicall binary to run for both peers.
	Executable string
	// Duration is how long the caller talks before hanging up.
	Duration time.Duration
	// CallerIn is the caller's audio source spec; "" means tone:440.
	CallerIn string
	// CalleeIn is the callee's audio source spec; "" means tone:660.
	CalleeIn string
	// ReceivedWAV is where the callee writes what it heard.
	ReceivedWAV string
	// Progress receives one line per event of either peer, prefixed by its
	// role; nil drops them.
	Progress func(role, line string)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Peer is one side of the demo call as it reported itself.
type Peer struct {
	Address  lokinet.Address
	Events   []call.Event
	Stats    *call.Stats
	ExitCode int
	Stderr   string
}

// Result is what the demo call produced.
type Result struct {
	Caller, Callee Peer
	// ReceivedWAV is the callee's recording; ReceivedSeconds its length and
	// DominantHz its strongest frequency.
	ReceivedWAV     string
	ReceivedSeconds float64
	DominantHz      float64
}

// Run starts the two stand-in DNS servers, the callee (lokicall listen) and
// the caller (lokicall call), waits for the call to end and analyses the
// callee's recording.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.Duration <= 0 {
		opt.Duration = 5 * time.Second
	}
	if opt.CallerIn == "" {
		opt.CallerIn = "tone:440"
	}
	if opt.CalleeIn == "" {
		opt.CalleeIn = "tone:660"
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(opt.ReceivedWAV), 0o755); err != nil {
		return nil, fmt.Errorf("demo: output folder: %w", err)
	}
	caller, callee := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	callerDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: caller, SelfIP: CallerIP,
		Peers:  map[string]netip.Addr{callee.String(): CalleeIP},
		Logger: log.With("dns", "caller"),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: caller's stand-in DNS: %w", err)
	}
	defer callerDNS.Close()
	calleeDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: callee, SelfIP: CalleeIP,
		Peers:  map[string]netip.Addr{caller.String(): CallerIP},
		Logger: log.With("dns", "callee"),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: callee's stand-in DNS: %w", err)
	}
	defer calleeDNS.Close()

	port, err := freeport.TCP4(CalleeIP)
	if err != nil {
		return nil, fmt.Errorf("demo: no free port on %v (is 127.0.0.0/8 on the loopback interface?): %w", CalleeIP, err)
	}

	res := &Result{ReceivedWAV: opt.ReceivedWAV}
	res.Caller.Address, res.Callee.Address = caller, callee
	ctx, cancel := context.WithTimeout(ctx, opt.Duration+2*time.Minute)
	defer cancel()

	listening := make(chan struct{})
	var once sync.Once
	calleeCmd := peerCommand(ctx, opt.Executable, calleeDNS.Addr(), "listen",
		"--port", strconv.Itoa(port), "--accept", "auto", "--calls", "1",
		"--in", opt.CalleeIn, "--out", "file:"+opt.ReceivedWAV)
	var wg sync.WaitGroup
	calleeErr := make(chan error, 1)
	if err := start(calleeCmd, "callee", &res.Callee, opt.Progress, &wg, func(ev call.Event) {
		if ev.Kind == call.EventListen {
			once.Do(func() { close(listening) })
		}
	}); err != nil {
		return nil, err
	}
	go func() { calleeErr <- calleeCmd.Wait() }()

	select {
	case <-listening:
	case err := <-calleeErr:
		wg.Wait()
		return res, fmt.Errorf("demo: callee exited before listening: %v: %s", err, res.Callee.Stderr)
	case <-ctx.Done():
		return res, fmt.Errorf("demo: callee did not start listening: %w", ctx.Err())
	}

	target := fmt.Sprintf("%s:%d", callee, port)
	callerCmd := peerCommand(ctx, opt.Executable, callerDNS.Addr(), "call", target,
		"--in", opt.CallerIn, "--out", "null", "--duration", opt.Duration.String())
	if err := start(callerCmd, "caller", &res.Caller, opt.Progress, &wg, nil); err != nil {
		return res, err
	}
	callerErr := callerCmd.Wait()
	err = <-calleeErr
	wg.Wait()
	res.Caller.ExitCode = exitstatus.Of(callerErr)
	res.Callee.ExitCode = exitstatus.Of(err)
	if res.Caller.ExitCode != 0 || res.Callee.ExitCode != 0 {
		return res, fmt.Errorf("demo: call failed: caller exit %d (%s), callee exit %d (%s)",
			res.Caller.ExitCode, lastLine(res.Caller.Stderr), res.Callee.ExitCode, lastLine(res.Callee.Stderr))
	}
	pcm, rate, err := media.ReadWAV(opt.ReceivedWAV)
	if err != nil {
		return res, fmt.Errorf("demo: read the callee's recording: %w", err)
	}
	res.ReceivedSeconds = float64(len(pcm)) / float64(rate)
	res.DominantHz = media.DominantFrequency(pcm, rate)
	return res, nil
}

func peerCommand(ctx context.Context, exe, dns string, args ...string) *exec.Cmd {
	full := append([]string{"--json", "--lokinet-dns", dns}, args...)
	cmd := exec.CommandContext(ctx, exe, full...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = demoEnv(os.Environ())
	return cmd
}

// demoEnv keeps the user's lokicall settings (LOKICALL_* variables and the
// configuration file) and call history out of the demo's peers, so the demo behaves the same
// on every machine.
func demoEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LOKICALL_") {
			out = append(out, kv)
		}
	}
	// The demo's calls are not the user's: keep them out of the history.
	return append(out, "LOKICALL_CONFIG="+os.DevNull, "LOKICALL_HISTORY=false")
}

// start runs cmd, decoding its JSON event stream into p.
func start(cmd *exec.Cmd, role string, p *Peer, progress func(string, string), wg *sync.WaitGroup, onEvent func(call.Event)) error {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("demo: %s stdout: %w", role, err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("demo: start %s: %w", role, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if progress != nil {
				progress(role, line)
			}
			var ev call.Event
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			p.Events = append(p.Events, ev)
			if ev.Kind == call.EventStats {
				p.Stats = ev.Stats
			}
			if onEvent != nil {
				onEvent(ev)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.Stderr = stderr.String()
	}()
	return nil
}

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
