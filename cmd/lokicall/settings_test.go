package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unreadableConfigEnv marks the run of TestUnreadableDefaultConfig that
// does the work as an unprivileged user.
const unreadableConfigEnv = "LOKICALL_TEST_UNREADABLE_CONFIG"

// TestUnreadableDefaultConfig: a default configuration file the process may
// not read (a service account's home) is treated as missing, with a warning
// naming it, while one named by --config is still an error. As root, which
// reads everything, the test runs itself again as nobody.
func TestUnreadableDefaultConfig(t *testing.T) {
	dir := os.Getenv(unreadableConfigEnv)
	if dir == "" {
		// Not t.TempDir: its parent is private to this user.
		var err error
		if dir, err = os.MkdirTemp("", "lokicall-config"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "lokicall", "config.toml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("[listen]\naccept = \"auto\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if os.Getuid() == 0 {
			reexecAsNobody(t, dir)
			return
		}
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("XDG_CONFIG_HOME", dir)
	_, stderr, code := run(t, nil, "contacts", "list")
	if code != 0 || !strings.Contains(stderr, "permission denied") || !strings.Contains(stderr, "built-in settings") {
		t.Errorf("unreadable default config: exit %d, stderr %q; want exit 0 and a warning", code, stderr)
	}
	named := filepath.Join(dir, "lokicall", "config.toml")
	if _, stderr, code := run(t, nil, "--config", named, "contacts", "list"); code == 0 || !strings.Contains(stderr, "permission denied") {
		t.Errorf("unreadable --config: exit %d, stderr %q; want an error", code, stderr)
	}
}

// reexecAsNobody runs TestUnreadableDefaultConfig in a copy of the test
// binary as user nobody, with the configuration directory dir.
func reexecAsNobody(t *testing.T, dir string) {
	t.Helper()
	exe := filepath.Join(dir, "test.bin")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), exe, "-test.run=^TestUnreadableDefaultConfig$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unreadableConfigEnv+"="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("as nobody, the test did not run:\n%s", out)
	}
}
