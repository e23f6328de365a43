package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitPath is the systemd user unit of `lokicall listen`.
const unitPath = "../../dist/systemd/lokicall-listen.service"

// unitExecStart returns the unit's ExecStart command line with %h as home.
func unitExecStart(t *testing.T, home string) []string {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ExecStart="); ok {
			return strings.Fields(strings.ReplaceAll(v, "%h", home))
		}
	}
	t.Fatal("the unit has no ExecStart")
	return nil
}

// TestE2EServiceUnit: the unit passes systemd's own check without a
// warning, and its command starts as systemd starts it (no terminal, the
// user's config and state), answers a contact without a microphone, and
// stops cleanly (exit 0) on the SIGTERM systemd sends, well within
// TimeoutStopSec. With a user systemd manager it runs under systemd-run
// --user instead.
func TestE2EServiceUnit(t *testing.T) {
	exe := buildLokicall(t)
	home := t.TempDir()
	bin := filepath.Join(home, ".local", "bin", "lokicall")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(exe, bin); err != nil {
		t.Fatal(err)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		cmd := exec.Command(analyze, "verify", unitPath)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("no systemd-analyze: the unit's syntax is not checked")
	}
	args := unitExecStart(t, home)
	if args[0] != bin || args[1] != "listen" {
		t.Fatalf("ExecStart = %q, want %s listen …", args, bin)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := e2eNodes(t, 63, "svc", "alice")
	svc, alice := nodes[0], nodes[1]
	if err := os.WriteFile(svc.cfg, []byte("[contacts]\nalice = \""+alice.addr.String()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t, svc.ip)
	env := append(svc.env(), "HOME="+home, "LOKICALL_LOKINET_DNS="+svc.dns.Addr(), "LOKICALL_PORT="+strconv.Itoa(port))

	stop := startService(t, ctx, args, env)
	// The service answers a contact (without ringing anybody).
	out, _, code := alice.run(t, ctx, exe, "--json", "ping", svc.addr.String()+":"+strconv.Itoa(port), "--count", "2", "--interval", "100ms")
	if code != 0 || !strings.Contains(out, `"received":2`) {
		t.Errorf("ping of the service: exit %d, %s", code, out)
	}
	stop()
}

// startService runs args as systemd would run the unit and returns a
// function that stops it and checks that it stopped cleanly.
func startService(t *testing.T, ctx context.Context, args, env []string) (stop func()) {
	t.Helper()
	if out, err := exec.Command("systemctl", "--user", "is-system-running").Output(); err == nil ||
		strings.TrimSpace(string(out)) == "degraded" {
		return startTransientUnit(t, ctx, args, env)
	}
	t.Log("no systemd user manager: running the unit's command as systemd would")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	stdout, stderr := &safeBuffer{}, &safeBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr // stdin stays /dev/null, as under systemd
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitOutput(t, ctx, stdout, "listening as")
	return func() {
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the service did not stop cleanly on SIGTERM: %v; stderr: %s", err, stderr.String())
			}
			t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
		case <-time.After(15 * time.Second): // the unit's TimeoutStopSec
			t.Errorf("the service did not stop within TimeoutStopSec")
		}
	}
}

// startTransientUnit runs args as a transient systemd user unit with the
// unit's stop settings.
func startTransientUnit(t *testing.T, ctx context.Context, args, env []string) (stop func()) {
	t.Helper()
	name := "lokicall-listen-test-" + strconv.Itoa(os.Getpid())
	run := []string{"--user", "--unit=" + name, "-p", "Type=exec", "-p", "KillSignal=SIGTERM", "-p", "TimeoutStopSec=15s", "-p", "NoNewPrivileges=yes"}
	for _, kv := range env {
		if strings.HasPrefix(kv, "LOKICALL_") || strings.HasPrefix(kv, "XDG_STATE_HOME=") || strings.HasPrefix(kv, "HOME=") {
			run = append(run, "--setenv="+kv)
		}
	}
	if out, err := exec.CommandContext(ctx, "systemd-run", append(append(run, "--"), args...)...).CombinedOutput(); err != nil {
		t.Fatalf("systemd-run: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("systemctl", "--user", "reset-failed", name).Run() })
	for {
		out, _ := exec.CommandContext(ctx, "journalctl", "--user", "-u", name, "-o", "cat").Output()
		if strings.Contains(string(out), "listening as") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not start listening: %s", name, out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() {
		if out, err := exec.CommandContext(ctx, "systemctl", "--user", "stop", name).CombinedOutput(); err != nil {
			t.Errorf("systemctl stop: %v\n%s", err, out)
		}
		out, _ := exec.CommandContext(ctx, "systemctl", "--user", "show", "-p", "Result", "--value", name).Output()
		if r := strings.TrimSpace(string(out)); r != "success" && r != "" {
			t.Errorf("%s stopped with result %q, want success", name, r)
		}
	}
}
