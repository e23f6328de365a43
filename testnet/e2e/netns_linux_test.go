package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Topology: every host in a namespace of its own, one veth each into a
// bridge namespace, 10.77.0.0/24 between them (private to these namespaces).
const (
	subnet  = "10.77.0"
	relays  = 8
	hops    = 4
	delay   = 15 * time.Millisecond
	jitter  = 2 * time.Millisecond
	dirPort = 8080
)

type testbed struct {
	t      *testing.T
	bin    string
	prefix string
	dir    string
	procs  map[string]*proc
	mu     sync.Mutex
}

// proc is a background process whose output is scanned line by line.
type proc struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	done  chan struct{}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTestbed(t *testing.T) *testbed {
	if os.Getenv("LOKICALL_E2E") == "" {
		t.Skip("end-to-end test: set LOKICALL_E2E=1 (make e2e)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and TUN")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	tb := &testbed{t: t, prefix: fmt.Sprintf("lt%d", os.Getpid()%100000), dir: t.TempDir(), procs: map[string]*proc{}}
	tb.bin = filepath.Join(tb.dir, "lokinet-emu")
	build := exec.Command("go", "build", "-o", tb.bin, "github.com/lokicall/lokicall/testnet/cmd/lokinet-emu")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	br := tb.ns("br")
	run(t, "ip", "netns", "add", br)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", br).Run() })
	run(t, "ip", "-n", br, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", br, "link", "set", "br0", "up")
	return tb
}

func (tb *testbed) ns(host string) string { return tb.prefix + "-" + host }

// ctl is the control socket of the node on host.
func (tb *testbed) ctl(host string) string { return filepath.Join(tb.dir, host+".ctl") }

// host makes a namespace joined to the bridge with address subnet.octet.
func (tb *testbed) host(name string, octet int) string {
	t, ns, br := tb.t, tb.ns(name), tb.ns("br")
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	peer := fmt.Sprintf("b%d", octet)
	run(t, "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", peer, "netns", br)
	run(t, "ip", "-n", br, "link", "set", peer, "master", "br0", "up")
	run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", subnet, octet), "dev", "eth0")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return fmt.Sprintf("%s.%d", subnet, octet)
}

// start runs the binary in host's namespace in the background.
func (tb *testbed) start(name, host string, args ...string) *proc {
	t := tb.t
	cmd := exec.Command("ip", append([]string{"netns", "exec", tb.ns(host), tb.bin}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		p.mu.Lock()
		close(p.done)
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() { p.stop() })
	tb.mu.Lock()
	tb.procs[name] = p
	tb.mu.Unlock()
	return p
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crashed relay.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait blocks until a log line matches re (counting from line from) and
// returns the line and its index.
func (p *proc) wait(t *testing.T, re *regexp.Regexp, from int, timeout time.Duration) (string, int) {
	t.Helper()
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; ; {
		for ; i < len(p.lines); i++ {
			if re.MatchString(p.lines[i]) {
				return p.lines[i], i
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before logging %q; log:\n%s", p.name, re, strings.Join(p.lines, "\n"))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v; log:\n%s", p.name, re, timeout, strings.Join(p.lines, "\n"))
		}
		p.cond.Wait()
	}
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// exec runs the binary in host's namespace to completion.
func (tb *testbed) exec(ctx context.Context, host string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", tb.ns(host), tb.bin}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %w\n%s", args, err, stderr.String())
	}
	return string(out), nil
}

type pingResult struct {
	ResolveMS  float64   `json:"resolve_ms"`
	DNSQueries int       `json:"dns_queries"`
	Sent       int       `json:"sent"`
	Received   int       `json:"received"`
	RTTms      []float64 `json:"rtt_ms"`
	MinMS      float64   `json:"min_ms"`
	AvgMS      float64   `json:"avg_ms"`
	MaxMS      float64   `json:"max_ms"`
	MaxGapMS   float64   `json:"max_gap_ms"`
	Lost       []int     `json:"lost"`
}

var (
	reRunning = regexp.MustCompile(`msg="(relay|node|directory) running"`)
	reBuilt   = regexp.MustCompile(`msg="path built"`)
	reRebuilt = regexp.MustCompile(`msg="path rebuilt".*outage_ms=(\d+)`)
	reListen  = regexp.MustCompile(`msg="udpecho listening"`)
	reRelays  = regexp.MustCompile(`relays="\[([^\]]*)\]"`)
	reSummary = regexp.MustCompile(`(\d+) sent, (\d+) received;.* longest gap (\d+) ms`)
)

func TestOnionNetworkInNamespaces(t *testing.T) {
	tb := newTestbed(t)
	dirIP := tb.host("dir", 1)
	dirURL := fmt.Sprintf("http://%s:%d", dirIP, dirPort)
	d := tb.start("directory", "dir", "directory", "-listen", fmt.Sprintf("%s:%d", dirIP, dirPort))
	d.wait(t, reRunning, 0, 10*time.Second)
	relayProcs := map[string]*proc{}
	for i := range relays {
		name := fmt.Sprintf("r%d", i+1)
		ip := tb.host(name, 10+i)
		p := tb.start(name, name, "relay", "-listen", ip+":1090", "-directory", dirURL,
			"-delay", delay.String(), "-jitter", jitter.String())
		p.wait(t, reRunning, 0, 10*time.Second)
		relayProcs[ip+":1090"] = p
	}
	nodes := map[string]*proc{}
	for i, name := range []string{"alice", "bob"} {
		tb.host(name, 100+i)
		nodes[name] = tb.start(name, name, "node", "-directory", dirURL, "-hops", fmt.Sprint(hops),
			"-identity", filepath.Join(tb.dir, name+".key"), "-ctl", tb.ctl(name))
	}
	addr := map[string]string{}
	for name, p := range nodes {
		p.wait(t, reRunning, 0, 10*time.Second)
		out, err := tb.exec(t.Context(), name, "whoami")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(out)
		if len(f) != 2 || f[1] != "172.16.0.1" || !strings.HasSuffix(f[0], ".loki") {
			t.Fatalf("%s whoami = %q", name, out)
		}
		addr[name] = f[0]
		p.wait(t, reBuilt, 0, 15*time.Second)
	}

	model := 16 * delay // 2 × (4 + 4) relay egress links
	ping := func(from, to string, count int, interval, timeout time.Duration) pingResult {
		t.Helper()
		echo := tb.start(to+"-echo", to, "udpecho", "-port", "9000")
		echo.wait(t, reListen, 0, 10*time.Second)
		defer echo.stop()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		out, err := tb.exec(ctx, from, "udpping", "-json", "-count", fmt.Sprint(count),
			"-interval", interval.String(), "-timeout", timeout.String(), addr[to]+":9000")
		if err != nil {
			t.Fatalf("udpping %s → %s: %v", from, to, err)
		}
		var r pingResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("udpping output %q: %v", out, err)
		}
		return r
	}
	for _, dir := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
		r := ping(dir[0], dir[1], 10, 100*time.Millisecond, 3*time.Second)
		t.Logf("%s → %s: resolved in %.0f ms (%d queries), %d/%d echoes, RTT min/avg/max %.1f/%.1f/%.1f ms, modelled %v",
			dir[0], dir[1], r.ResolveMS, r.DNSQueries, r.Received, r.Sent, r.MinMS, r.AvgMS, r.MaxMS, model)
		if r.Received != r.Sent {
			t.Errorf("%s → %s: %d of %d echoes", dir[0], dir[1], r.Received, r.Sent)
		}
		lo := float64((model - 16*jitter).Milliseconds())
		hi := float64((model + 16*jitter + 40*time.Millisecond).Milliseconds())
		if r.MinMS < lo || r.AvgMS > hi {
			t.Errorf("%s → %s: RTT min %.1f avg %.1f ms, want within [%.0f, %.0f]", dir[0], dir[1], r.MinMS, r.AvgMS, lo, hi)
		}
	}
	t.Run("tcp", func(t *testing.T) {
		// lokicall's signalling is TCP: the handshake and data must pass the
		// address rewrite with valid checksums, and the callee learns the
		// caller's address by PTR of the connection's source.
		echo := tb.start("bob-tcpecho", "bob", "udpecho", "-port", "7787")
		echo.wait(t, reListen, 0, 10*time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := tb.exec(ctx, "alice", "udpping", "-tcp", "-json", "-count", "5", "-size", "4000", addr["bob"]+":7787")
		if err != nil {
			t.Fatal(err)
		}
		var r pingResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("udpping output %q: %v", out, err)
		}
		t.Logf("alice → bob over TCP, 4000-byte probes (full-MTU segments): %d/%d echoes, RTT min/avg/max %.1f/%.1f/%.1f ms", r.Received, r.Sent, r.MinMS, r.AvgMS, r.MaxMS)
		if r.Received != r.Sent {
			t.Errorf("%d of %d echoes", r.Received, r.Sent)
		}
		line, _ := echo.wait(t, regexp.MustCompile(`msg="new peer".*proto=tcp`), 0, time.Second)
		if !strings.Contains(line, addr["alice"]) {
			t.Errorf("bob's PTR of the TCP caller is not alice: %s", line)
		}
	})

	echoLog := tb.procs["alice-echo"].log()
	if !strings.Contains(echoLog, addr["bob"]) {
		t.Errorf("alice's echo server did not learn bob's address by PTR; log:\n%s", echoLog)
	}

	t.Run("relay dies", func(t *testing.T) {
		line, idx := nodes["alice"].wait(t, reBuilt, 0, time.Second)
		m := reRelays.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no relays in %q", line)
		}
		path := strings.Fields(m[1])
		victim := relayProcs[path[1]]
		if victim == nil {
			t.Fatalf("relay %s of %v unknown", path[1], path)
		}
		echo := tb.start("bob-echo2", "bob", "udpecho", "-port", "9001")
		echo.wait(t, reListen, 0, 10*time.Second)
		pinger := tb.start("alice-ping2", "alice", "udpping", "-count", "60", "-interval", "100ms", "-timeout", "400ms", addr["bob"]+":9001")
		// Let five echoes through, then kill a relay on alice's path.
		pinger.wait(t, regexp.MustCompile(`seq=4 rtt=`), 0, 20*time.Second)
		victim.kill()
		killed := time.Now()
		line, _ = nodes["alice"].wait(t, reRebuilt, idx, 20*time.Second)
		outage := reRebuilt.FindStringSubmatch(line)[1]
		t.Logf("killed relay %s (hop 2 of alice's path); alice rebuilt its path %v later, logging outage_ms=%s (from the last probe answer)",
			path[1], time.Since(killed).Round(time.Millisecond), outage)
		summary, _ := pinger.wait(t, reSummary, 0, 60*time.Second)
		m = reSummary.FindStringSubmatch(summary)
		var r struct{ Sent, Received, Gap int }
		fmt.Sscan(m[1]+" "+m[2]+" "+m[3], &r.Sent, &r.Received, &r.Gap)
		t.Logf("alice → bob during the kill: %d/%d echoes; traffic stopped for %d ms (longest gap between echoed probes, 100 ms spacing)", r.Received, r.Sent, r.Gap)
		if r.Gap < 400 {
			t.Errorf("gap %d ms: the kill did not interrupt traffic", r.Gap)
		}
		if r.Received < r.Sent/2 {
			t.Errorf("traffic did not recover: %d/%d", r.Received, r.Sent)
		}
	})
}
