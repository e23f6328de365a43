package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lokicall/lokicall/testnet/node"
	"github.com/lokicall/lokicall/testnet/onion"
)

func runDirectory(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("directory", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "HTTP listen address")
	ttl := fs.Duration("relay-ttl", onion.DefaultRelayTTL, "how long a relay stays listed after a heartbeat")
	if err := parse(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	srv := &http.Server{Handler: onion.NewDirectory(onion.DirectoryConfig{RelayTTL: *ttl, Logger: log}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("directory running", "listen", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("directory: %w", err)
	}
	return nil
}

func runRelay(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:1090", "UDP listen address")
	advertise := fs.String("advertise", "", "address registered with the directory (default: the one that reaches it)")
	dir := fs.String("directory", "http://directory:8080", "directory URL")
	keyFile := fs.String("key", "", "x25519 key file, created if missing (default: a fresh key per run)")
	def := onion.DefaultLink()
	delay := fs.Duration("delay", def.Delay, "one-way delay added to every packet the relay sends")
	jitter := fs.Duration("jitter", def.Jitter, "half-width of the uniform jitter added to the delay")
	loss := fs.Float64("loss", def.Loss, "probability of dropping a packet, 0..1 (with -loss-model=uniform)")
	lossModel := fs.String("loss-model", string(onion.LossUniform), "uniform (independent drops at -loss) or gilbert (two-state Gilbert–Elliott, -ge-*)")
	geP := fs.Float64("ge-p", onion.DefaultGE.P, "Gilbert–Elliott: probability per packet of moving from the good to the bad state")
	geR := fs.Float64("ge-r", onion.DefaultGE.R, "Gilbert–Elliott: probability per packet of moving from the bad to the good state (mean burst 1/r)")
	geGood := fs.Float64("ge-loss-good", onion.DefaultGE.LossGood, "Gilbert–Elliott: loss probability in the good state")
	geBad := fs.Float64("ge-loss-bad", onion.DefaultGE.LossBad, "Gilbert–Elliott: loss probability in the bad state")
	hb := fs.Duration("heartbeat", onion.DefaultHeartbeat, "directory heartbeat interval")
	if err := parse(fs, args); err != nil {
		return err
	}
	model, err := onion.ParseLossModel(*lossModel)
	if err != nil {
		return fmt.Errorf("relay: -loss-model: %w", err)
	}
	ge := onion.GilbertElliott{P: *geP, R: *geR, LossGood: *geGood, LossBad: *geBad}
	if model == onion.LossGilbert {
		if err := ge.Validate(); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	cfg := onion.RelayConfig{
		Listen:    *listen,
		Directory: &onion.DirectoryClient{URL: *dir},
		Heartbeat: *hb,
		Link:      onion.LinkConfig{Delay: *delay, Jitter: *jitter, Loss: *loss, LossModel: model, GE: ge},
		Logger:    log,
	}
	if *advertise != "" {
		ap, err := netip.ParseAddrPort(*advertise)
		if err != nil {
			return fmt.Errorf("relay: -advertise: %w", err)
		}
		cfg.Advertise = ap
	}
	if *keyFile != "" {
		k, err := loadOrCreateRelayKey(*keyFile)
		if err != nil {
			return err
		}
		cfg.Key = k
	}
	r, err := onion.NewRelay(cfg)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func loadOrCreateRelayKey(path string) (*ecdh.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("relay key: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k.Bytes())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("relay key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("relay key %s: %w", path, err)
	}
	k, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("relay key %s: %w", path, err)
	}
	return k, nil
}

func runNode(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	dir := fs.String("directory", "http://directory:8080", "directory URL")
	idFile := fs.String("identity", "/var/lib/lokinet-emu/identity.key", "ed25519 identity file, created if missing")
	iface := fs.String("iface", node.DefaultInterface, "TUN interface name")
	addr := fs.String("addr", node.DefaultAddress.String(), "interface address and range")
	mtu := fs.Int("mtu", node.DefaultMTU, "interface MTU")
	dnsAddr := fs.String("dns", "127.3.2.1:53", "DNS listen address (UDP and TCP)")
	hops := fs.Int("hops", onion.DefaultHops, "relays per path, the last being the introduction relay")
	waitPath := fs.Bool("wait-path", true, "start CMD only once the first path is up")
	swapMode := fs.String("session-swap", string(onion.SwapOff), "Lokinet 0.9.11's half-open session replacement: off, auto (sessions opened as Lokinet does; swaps when both nodes hold one) or force (both directions hold a session from the start)")
	swapPeriod := fs.Duration("swap-period", onion.DefaultSwapPeriod, "time between two replacements of one session")
	swapStall := fs.String("swap-stall", onion.DefaultSwapStallMin.String()+"-"+onion.DefaultSwapStallMax.String(), "range MIN-MAX of the stall of one replacement (drawn uniformly)")
	lifetime := fs.Duration("path-lifetime", onion.DefaultPathLifetime, "age at which a path is replaced by a new one (0: never)")
	traceFile := fs.String("trace", "", "replay per-packet one-way delay (rtt_ms/2) and loss from this CSV (seq,send_s,rtt_ms) on the node's egress")
	ctlPath := fs.String("ctl", node.DefaultControlSocket, "control socket (lokinet-emu ctl); empty: none")
	uid := fs.Int("uid", envInt("NODE_UID", -1), "run CMD as this numeric uid (default $NODE_UID; -1: as the node)")
	gid := fs.Int("gid", envInt("NODE_GID", -1), "run CMD as this numeric gid (default $NODE_GID, else the uid)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		if env := strings.Fields(os.Getenv("NODE_EXEC")); len(env) > 0 {
			cmdArgs = env
		}
	}
	prefix, err := netip.ParsePrefix(*addr)
	if err != nil {
		return fmt.Errorf("node: -addr: %w", err)
	}
	mode, err := onion.ParseSwapMode(*swapMode)
	if err != nil {
		return fmt.Errorf("node: -session-swap: %w", err)
	}
	stallMin, stallMax, err := onion.ParseStallRange(*swapStall)
	if err != nil {
		return fmt.Errorf("node: -swap-stall: %w", err)
	}
	if *swapPeriod <= 0 || *lifetime < 0 {
		return fmt.Errorf("node: -swap-period must be positive and -path-lifetime not negative")
	}
	var trace *onion.Trace
	if *traceFile != "" {
		if trace, err = onion.LoadTrace(*traceFile); err != nil {
			return fmt.Errorf("node: -trace: %w", err)
		}
		log.Info("trace loaded", "file", *traceFile, "probes", trace.Len(), "length", trace.Length())
	}
	id, err := node.LoadOrCreateIdentity(*idFile)
	if err != nil {
		return err
	}
	n, err := node.New(node.Config{
		Identity: id, Directory: *dir, Interface: *iface, Address: prefix, MTU: *mtu,
		DNSAddr: *dnsAddr, Hops: *hops, PathLifetime: *lifetime,
		Swap:  onion.SwapConfig{Mode: mode, Period: *swapPeriod, StallMin: stallMin, StallMax: stallMax},
		Trace: trace, Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodeErr := make(chan error, 1)
	go func() { nodeErr <- n.Run(ctx) }()
	if *ctlPath != "" {
		go func() {
			if err := n.ServeControl(ctx, *ctlPath); err != nil {
				log.Warn("no control socket", "err", err)
			}
		}()
	}
	if len(cmdArgs) == 0 {
		return <-nodeErr
	}
	if *waitPath {
		select {
		case <-n.PathReady():
		case err := <-nodeErr:
			return err
		}
	}
	if *uid >= 0 && *gid < 0 {
		*gid = *uid
	}
	err = runChild(ctx, cmdArgs, n, *uid, *gid, log)
	cancel()
	if nerr := <-nodeErr; nerr != nil && err == nil {
		err = nerr
	}
	return err
}

// runChild runs the command that shares the node's namespace (lokicall, in
// the testnet), passing SIGINT/SIGTERM on as SIGTERM, and returns its exit
// status as an exitError. With uid >= 0 the child runs under that uid and
// gid (numeric: the image has no /etc/passwd), so that the leak counters
// (lokinet-emu leakcheck) can tell its packets from the node's.
func runChild(ctx context.Context, args []string, n *node.Node, uid, gid int, log *slog.Logger) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	}
	cmd.Env = append(os.Environ(), "LOKINET_EMU_ADDRESS="+n.Address().String())
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node: start %s: %w", args[0], err)
	}
	log.Info("child started", "cmd", args, "pid", cmd.Process.Pid, "uid", uid, "gid", gid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		log.Info("child exited", "code", ee.ExitCode())
		return exitError{ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("node: %s: %w", args[0], err)
	}
	log.Info("child exited", "code", 0)
	return nil
}

// envInt returns the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
