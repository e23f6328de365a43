package runner

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/lokicall/lokicall/internal/exitstatus"
	"github.com/lokicall/lokicall/internal/freeport"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

// The stand-in Lokinet addresses of the loopback baseline's two peers, on
// the host's loopback interface (as in demo/).
var (
	loopbackCallerIP = netip.MustParseAddr("127.77.87.1")
	loopbackCalleeIP = netip.MustParseAddr("127.77.87.2")
)

// runLoopbackCall makes one call between two lokicall processes on the
// host, each with its own stand-in Lokinet DNS server (lokinettest) and a
// loopback address for its Lokinet address: no network delay at all. The
// source, the stamps and the analysis are those of runCall, so its
// mouth-to-ear delay is lokicall's own (framing, Opus, jitter buffer,
// playout).
func (r *Runner) runLoopbackCall(ctx context.Context, cs callSpec) CallResult {
	res := CallResult{Scenario: cs.scenario, Index: cs.index, Params: cs.params, Duration: cs.duration.Seconds(), Start: time.Now()}
	f := callFiles{dir: cs.dir, cdir: cs.dir, tag: fmt.Sprintf("call%02d", cs.index)}
	fail := func(err error) CallResult {
		res.Error = err.Error()
		return res
	}
	if r.Lokicall == "" {
		return fail(fmt.Errorf("%w: no lokicall executable for the loopback baseline", ErrTestnet))
	}
	if !r.prepareSource(&res, f, cs.duration) {
		return res
	}
	caller, callee := lokinettest.RandomAddress(), lokinettest.RandomAddress()
	callerDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: caller, SelfIP: loopbackCallerIP, Peers: map[string]netip.Addr{callee.String(): loopbackCalleeIP}, Logger: r.log().With("dns", "caller"),
	})
	if err != nil {
		return fail(fmt.Errorf("runner: loopback: caller's DNS: %w", err))
	}
	defer callerDNS.Close()
	calleeDNS, err := lokinettest.Start("127.0.0.1:0", lokinettest.Config{
		Self: callee, SelfIP: loopbackCalleeIP, Peers: map[string]netip.Addr{caller.String(): loopbackCallerIP}, Logger: r.log().With("dns", "callee"),
	})
	if err != nil {
		return fail(fmt.Errorf("runner: loopback: callee's DNS: %w", err))
	}
	defer calleeDNS.Close()
	port, err := freeport.TCP4(loopbackCalleeIP)
	if err != nil {
		return fail(fmt.Errorf("runner: loopback: no free port on %v: %w", loopbackCalleeIP, err))
	}
	cctx, cancel := context.WithTimeout(ctx, cs.duration+2*time.Minute)
	defer cancel()

	calleeOut, calleeLog, err := create2(f.host("callee.jsonl"), f.host("callee.log"))
	if err != nil {
		return fail(err)
	}
	defer calleeOut.Close()
	defer calleeLog.Close()
	calleeCmd := r.hostLokicall(cctx, calleeDNS.Addr(), calleeOut, calleeLog, "listen",
		"--accept", "auto", "--calls", "1", "--port", fmt.Sprint(port),
		"--in", "silence", "--out", "file:"+f.host("callee.wav"), "--playout-stamps", f.host("playout.csv"))
	if err := calleeCmd.Start(); err != nil {
		return fail(fmt.Errorf("runner: loopback: %w", err))
	}
	var calleeErr error
	calleeDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(calleeDone)
		calleeErr = calleeCmd.Wait()
	}()
	if !WaitForLine(calleeDone, f.host("callee.jsonl"), []byte(calleeReady), 30*time.Second) {
		cancel()
		wg.Wait()
		return fail(fmt.Errorf("loopback callee never listened: %v", calleeErr))
	}
	callerOut, callerLog, err := create2(f.host("caller.jsonl"), f.host("caller.log"))
	if err != nil {
		cancel()
		wg.Wait()
		return fail(err)
	}
	defer callerOut.Close()
	defer callerLog.Close()
	callerErr := r.hostLokicall(cctx, callerDNS.Addr(), callerOut, callerLog, "call", fmt.Sprintf("%s:%d", callee, port),
		"--in", "file:"+f.host("source.wav"), "--out", "null", "--capture-stamps", f.host("capture.csv"), "--duration", cs.duration.String()).Run()
	select {
	case <-calleeDone:
	case <-time.After(15 * time.Second):
		cancel()
	}
	wg.Wait()
	res.Caller = parseSide(f.host("caller.jsonl"))
	res.Callee = parseSide(f.host("callee.jsonl"))
	res.Caller.Node, res.Callee.Node = "host", "host"
	res.Caller.Exit, res.Callee.Exit = exitstatus.Of(callerErr), exitstatus.Of(calleeErr)
	r.analyse(&res, f, true, nil)
	return res
}

// hostLokicall is a lokicall command on the host, pointed at a stand-in
// DNS server; Ctrl-C on cancellation, as a user would.
func (r *Runner) hostLokicall(ctx context.Context, dns string, stdout, stderr *os.File, args ...string) *exec.Cmd {
	full := append([]string{"--json", "--log-level", "debug", "--lokinet-dns", dns}, args...)
	cmd := exec.CommandContext(ctx, r.Lokicall, full...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd
}
