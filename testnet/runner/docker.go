package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Testnet is the compose project the runner drives. Zero fields mean the
// defaults of testnet/testnet.mk.
type Testnet struct {
	// Compose is the compose command with its project and file flags,
	// e.g. ["docker-compose", "-p", "lokicall-testnet", "-f", "testnet/compose.yaml"].
	Compose []string
	// Docker is the docker CLI; "docker" if empty.
	Docker string
	// UID is lokicall's numeric uid (and gid) in the node containers.
	UID int
	// Results is the host folder bind-mounted at /results in the nodes.
	Results string
	// PairsFile is the compose override with the extra node pairs
	// (testnet/compose.pairs.yaml), for Params.Pairs > 1.
	PairsFile string
	// Logger receives the commands run; none if nil.
	Logger *slog.Logger

	ids map[string]string
	// withPairs: the extra pairs are up, so compose needs PairsFile.
	withPairs bool
}

// DefaultCompose is the compose command of testnet/testnet.mk.
var DefaultCompose = []string{"docker-compose", "-p", "lokicall-testnet", "-f", "testnet/compose.yaml"}

func (t *Testnet) log() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

func (t *Testnet) docker() string {
	if t.Docker == "" {
		return "docker"
	}
	return t.Docker
}

func (t *Testnet) compose() []string {
	c := t.Compose
	if len(c) == 0 {
		c = DefaultCompose
	}
	if t.withPairs {
		c = append(append([]string(nil), c...), "-f", t.PairsFile)
	}
	return c
}

// run runs a command and returns its stdout; stderr goes into the error.
func (t *Testnet) run(ctx context.Context, env []string, args ...string) (string, error) {
	t.log().Debug("run", "cmd", args, "env", env)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%w: %s: %w: %s", ErrTestnet, strings.Join(args, " "), err, strings.TrimSpace(lastLines(errb.String(), 5)))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Up (re)starts the testnet with the link and path parameters of p and
// returns once the nodes of p's pairs have a path. Services whose
// parameters did not change keep running; the extra pairs of PairsFile run
// only while p has more than one pair.
func (t *Testnet) Up(ctx context.Context, p Params) error {
	env := p.Env()
	env = append(env, fmt.Sprintf("LOKICALL_UID=%d", t.UID))
	t.ids = nil
	if p.pairs() > 1 && t.PairsFile == "" {
		return fmt.Errorf("%w: %d node pairs need the pairs compose file (-pairs-file)", ErrTestnet, p.pairs())
	}
	var unused []string // nodes of the pairs p does not use
	for _, pr := range NodePairs[min(len(NodePairs), p.pairs()):] {
		unused = append(unused, pr[0], pr[1])
	}
	up := []string{"up", "-d"}
	if p.pairs() > 1 {
		t.withPairs = true
		out, err := t.run(ctx, env, append(t.compose(), "config", "--services")...)
		if err != nil {
			return err
		}
		for _, svc := range strings.Fields(out) {
			if !slices.Contains(unused, svc) {
				up = append(up, svc)
			}
		}
	}
	if _, err := t.run(ctx, env, append(t.compose(), up...)...); err != nil {
		return err
	}
	if t.PairsFile != "" && len(unused) > 0 { // (rm with no service would remove them all)
		// Stop and remove the pairs not in use, if a previous scenario (or
		// run) started them.
		t.withPairs = true
		if _, err := t.run(ctx, env, append(append(t.compose(), "rm", "-s", "-f"), unused...)...); err != nil {
			t.log().Warn("removing the unused node pairs", "err", err)
		}
		t.withPairs = p.pairs() > 1
	}
	for _, n := range p.Nodes() {
		if _, err := t.Exec(ctx, n, false, nil, nil, "/lokinet-emu", "wait", "-timeout", "90s"); err != nil {
			return fmt.Errorf("%w: %s has no path: %w", ErrTestnet, n, err)
		}
	}
	return nil
}

// ID returns the container id of a compose service.
func (t *Testnet) ID(ctx context.Context, service string) (string, error) {
	if id, ok := t.ids[service]; ok {
		return id, nil
	}
	out, err := t.run(ctx, nil, append(t.compose(), "ps", "-q", service)...)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" {
		return "", fmt.Errorf("%w: service %s is not running (make testnet-up)", ErrTestnet, service)
	}
	if t.ids == nil {
		t.ids = map[string]string{}
	}
	t.ids[service] = id
	return id, nil
}

// Exec runs args in a service's container, as lokicall's uid if asUID, else
// as root. With stdout nil the output is returned; otherwise it is copied
// to stdout and stderr as it comes.
func (t *Testnet) Exec(ctx context.Context, service string, asUID bool, stdout, stderr io.Writer, args ...string) (string, error) {
	id, err := t.ID(ctx, service)
	if err != nil {
		return "", err
	}
	cmdline := []string{t.docker(), "exec"}
	if asUID {
		cmdline = append(cmdline, "-u", fmt.Sprintf("%d:%d", t.UID, t.UID))
	}
	cmdline = append(append(cmdline, id), args...)
	if stdout == nil {
		return t.run(ctx, nil, cmdline...)
	}
	t.log().Debug("exec", "cmd", cmdline)
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w", service, args[0], err)
	}
	return "", nil
}

// Whoami returns a node's .loki address.
func (t *Testnet) Whoami(ctx context.Context, service string) (string, error) {
	out, err := t.Exec(ctx, service, false, nil, nil, "/lokinet-emu", "whoami")
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", fmt.Errorf("%w: whoami on %s: empty answer", ErrTestnet, service)
	}
	return f[0], nil
}

var pathLine = regexp.MustCompile(`msg="path (?:re)?built" relays="\[([^\]]*)\]"`)

// Path returns the relays (ip:port) of a node's current path, from the
// node's log.
func (t *Testnet) Path(ctx context.Context, service string) ([]string, error) {
	out, err := t.Logs(ctx, service)
	if err != nil {
		return nil, err
	}
	m := pathLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: no path in %s's log", ErrTestnet, service)
	}
	return strings.Fields(m[len(m)-1][1]), nil
}

// Logs returns a service's log (the node logs to stderr, which docker logs
// passes on as stderr: both are read).
func (t *Testnet) Logs(ctx context.Context, service string) (string, error) {
	id, err := t.ID(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, t.docker(), "logs", id).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: docker logs %s: %w", ErrTestnet, service, err)
	}
	return string(out), nil
}

// ExecDetached starts args in a service's container as root and returns.
func (t *Testnet) ExecDetached(ctx context.Context, service string, args ...string) error {
	id, err := t.ID(ctx, service)
	if err != nil {
		return err
	}
	_, err = t.run(ctx, nil, append([]string{t.docker(), "exec", "-d", id}, args...)...)
	return err
}

// ServiceByIP returns the compose service whose container has ip.
func (t *Testnet) ServiceByIP(ctx context.Context, ip string) (string, error) {
	out, err := t.run(ctx, nil, append(t.compose(), "ps", "-q")...)
	if err != nil {
		return "", err
	}
	for _, id := range strings.Fields(out) {
		info, err := t.run(ctx, nil, t.docker(), "inspect", "-f",
			`{{index .Config.Labels "com.docker.compose.service"}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}`, id)
		if err != nil {
			continue
		}
		f := strings.Fields(info)
		for _, a := range f[1:] {
			if a == ip {
				return f[0], nil
			}
		}
	}
	return "", fmt.Errorf("%w: no service with address %s", ErrTestnet, ip)
}

// Kill kills a service's container; Start starts it again.
func (t *Testnet) Kill(ctx context.Context, service string) error {
	_, err := t.run(ctx, nil, append(t.compose(), "kill", service)...)
	return err
}

// Start starts a stopped service again.
func (t *Testnet) Start(ctx context.Context, service string) error {
	_, err := t.run(ctx, nil, append(t.compose(), "start", service)...)
	return err
}

// ComposeUp starts every service of the compose files (compose up -d:
// idempotent) with env added to the environment.
func (t *Testnet) ComposeUp(ctx context.Context, env []string) error {
	t.ids = nil
	_, err := t.run(ctx, env, append(t.compose(), "up", "-d")...)
	return err
}

// ExecEnv runs args as lokicall's uid in a service's container with extra
// environment, streaming stdout and stderr.
func (t *Testnet) ExecEnv(ctx context.Context, service string, env []string, stdout, stderr io.Writer, args ...string) error {
	id, err := t.ID(ctx, service)
	if err != nil {
		return err
	}
	cmdline := []string{"exec", "-u", fmt.Sprintf("%d:%d", t.UID, t.UID)}
	for _, e := range env {
		cmdline = append(cmdline, "-e", e)
	}
	cmdline = append(append(cmdline, id), args...)
	t.log().Debug("exec", "cmd", cmdline)
	cmd := exec.CommandContext(ctx, t.docker(), cmdline...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", service, args[0], err)
	}
	return nil
}
