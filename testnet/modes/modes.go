package modes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lokicall/lokicall/internal/exitstatus"
	"github.com/lokicall/lokicall/testnet/leak"
	"github.com/lokicall/lokicall/testnet/runner"
)

// Runner runs the modes scenarios on a testnet with the public network.
type Runner struct {
	Testnet *runner.Testnet
	// Results is the host folder bind-mounted at /results in the nodes.
	Results string
	// Progress, if set, is called before every step.
	Progress func(runner.Progress)
	// Logger; none if nil.
	Logger *slog.Logger
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// ErrFailed reports a modes scenario whose checks failed.
var ErrFailed = errors.New("modes: modes scenario failed")

// PublicNet is the "public" network of testnet/compose.public.yaml: a
// STUN/TURN server (lokinet-emu turn) that alice and bob reach on their
// second interface, outside Lokinet.
type PublicNet struct {
	// Prefix is the public network, e.g. "10.90.0.0/24".
	Prefix string `json:"prefix"`
	// TURN is the server's address; Alice and Bob the nodes' addresses on
	// the public network; AliceUnderlay and BobUnderlay on the underlay
	// (Lokinet's own links), Underlay its prefix.
	TURN          string `json:"turn"`
	Alice         string `json:"alice"`
	Bob           string `json:"bob"`
	Underlay      string `json:"underlay"`
	AliceUnderlay string `json:"alice_underlay"`
	BobUnderlay   string `json:"bob_underlay"`
	// Port is the STUN/TURN UDP port; Users the TURN credentials of alice
	// and bob (name → password), as the turn service is started with.
	Port  int               `json:"port"`
	Users map[string]string `json:"-"`
}

// DefaultPublicNet is testnet/compose.public.yaml's network.
var DefaultPublicNet = PublicNet{
	Prefix: "10.90.0.0/24", TURN: "10.90.0.2", Alice: "10.90.0.101", Bob: "10.90.0.102",
	Underlay: "10.89.0.0/24", AliceUnderlay: "10.89.0.101", BobUnderlay: "10.89.0.102",
	Port: 3478, Users: map[string]string{"alice": "alice-secret", "bob": "bob-secret"},
}

// DefaultDuration is the audio of each modes call.
const DefaultDuration = 5 * time.Second

// PublicNetFor is DefaultPublicNet moved to other subnets (for a compose
// file with remapped networks): the same host numbers (.2 for the TURN
// server, .101 alice, .102 bob) in the given IPv4 /24s.
func PublicNetFor(underlay, public netip.Prefix) (PublicNet, error) {
	if !underlay.Addr().Is4() || !public.Addr().Is4() || underlay.Bits() != 24 || public.Bits() != 24 {
		return PublicNet{}, fmt.Errorf("modes: want two IPv4 /24 networks, got %v and %v", underlay, public)
	}
	host := func(p netip.Prefix, n byte) string {
		a := p.Masked().Addr().As4()
		a[3] = n
		return netip.AddrFrom4(a).String()
	}
	pub := DefaultPublicNet
	pub.Prefix, pub.TURN, pub.Alice, pub.Bob = public.Masked().String(), host(public, 2), host(public, 101), host(public, 102)
	pub.Underlay, pub.AliceUnderlay, pub.BobUnderlay = underlay.Masked().String(), host(underlay, 101), host(underlay, 102)
	return pub, nil
}

// Plan is what `testnet-runner modes` does.
type Plan struct {
	// Duration of each call's audio.
	Duration time.Duration `json:"duration"`
	Public   PublicNet     `json:"public"`
	// Only, if not empty, names the scenarios to run (onion, p2p, relay,
	// fallback, fallback-refused).
	Only []string `json:"only,omitempty"`
}

// Check is one verdict of a scenario.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Side is what one lokicall process of a modes scenario reported.
type Side struct {
	Args   []string `json:"args"`
	Config string   `json:"config,omitempty"` // LOKICALL_CONFIG, inside the container
	Exit   int      `json:"exit"`
	Reason string   `json:"reason"`
	Error  string   `json:"error,omitempty"`
	// From the final stats event.
	Mode            string  `json:"mode"`
	LocalCandidate  string  `json:"local_candidate"`
	RemoteCandidate string  `json:"remote_candidate"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	FramesPlayed    uint64  `json:"frames_played"`
	SetupMS         float64 `json:"setup_ms"`
	// States maps each state to when it was first entered; Exposure is
	// the ip-exposure event, Fallback the fallback state (zero if none).
	States   map[string]time.Time `json:"states"`
	Exposure time.Time            `json:"ip_exposure,omitzero"`
	Fallback time.Time            `json:"fallback,omitzero"`
}

// TURNSource is what the turn server received from one source IP.
type TURNSource struct {
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Packets uint64    `json:"packets"`
	Bytes   uint64    `json:"bytes"`
}

// TURNCounts are the turn server's counters (lokinet-emu turnstats): on
// its STUN/TURN port and on the relay ports it allocated, by source IP.
type TURNCounts struct {
	Since  time.Time              `json:"since"`
	Server map[string]*TURNSource `json:"server"`
	Relay  map[string]*TURNSource `json:"relay"`
}

// from sums the packets from ip on both kinds of port and returns the
// earliest first-packet time.
func (c TURNCounts) from(ip string) (uint64, time.Time) {
	var n uint64
	var first time.Time
	for _, m := range []map[string]*TURNSource{c.Server, c.Relay} {
		if s := m[ip]; s != nil {
			n += s.Packets
			if first.IsZero() || s.First.Before(first) {
				first = s.First
			}
		}
	}
	return n, first
}

// total is every packet the server received.
func (c TURNCounts) total() uint64 {
	var n uint64
	for _, m := range []map[string]*TURNSource{c.Server, c.Relay} {
		for _, s := range m {
			n += s.Packets
		}
	}
	return n
}

// NFTCount is one nftables counter.
type NFTCount struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// NFTCounts are a node's counters (lokinet-emu nftcount): packets it
// received by source, lokicall's packets by destination, and lokicall's
// packets dropped by the scenario's rules.
type NFTCounts struct {
	From            map[string]NFTCount `json:"from"`
	To              map[string]NFTCount `json:"to"`
	DroppedUDPIface *NFTCount           `json:"dropped_udp_iface,omitempty"`
	DroppedNet      *NFTCount           `json:"dropped_net,omitempty"`
}

// Scenario is one scenario's setup and result.
type Scenario struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description"`
	Start       time.Time              `json:"start"`
	Caller      Side                   `json:"caller"`
	Callee      Side                   `json:"callee"`
	TURN        TURNCounts             `json:"turn"`
	NFT         map[string]NFTCounts   `json:"nft"`
	Leak        map[string]leak.Counts `json:"leak"`
	// AnnouncementLeadMS: the caller's fallback announcement (ip-exposure
	// event) before the turn server's first packet from alice, in ms.
	AnnouncementLeadMS float64 `json:"announcement_lead_ms,omitempty"`
	Checks             []Check `json:"checks"`
	Passed             bool    `json:"passed"`
	Error              string  `json:"error,omitempty"`
}

// Report is the result of a modes run.
type Report struct {
	Plan      Plan        `json:"plan"`
	Dir       string      `json:"dir"`
	Started   time.Time   `json:"started"`
	Finished  time.Time   `json:"finished"`
	UID       int         `json:"uid"`
	Scenarios []*Scenario `json:"scenarios"`
	Passed    bool        `json:"passed"`
}

// spec is one scenario to run.
type spec struct {
	name, desc string
	callerArgs []string
	calleeArgs []string
	callerCfg  bool // LOKICALL_CONFIG with the servers, for the caller
	calleeCfg  bool
	dropOnion  bool // drop lokicall's UDP on alice's lokitun0
	check      func(*Scenario, PublicNet)
}

// scenarios are the modes scenarios, in order.
func scenarios(pub PublicNet) []spec {
	srv := fmt.Sprintf("%s:%d", pub.TURN, pub.Port)
	stun := "stun:" + srv
	turnURL := "turn:" + srv + "?transport=udp"
	servers := func(user string) []string {
		return []string{"--stun", stun, "--turn", turnURL, "--turn-username", user, "--turn-credential", pub.Users[user]}
	}
	return []spec{
		{
			name:      "onion",
			desc:      "default mode, STUN and TURN servers in both config files (LOKICALL_CONFIG): nothing may reach them",
			callerCfg: true, calleeCfg: true,
			check: checkOnion,
		},
		{
			name:       "p2p",
			desc:       "--mode p2p --allow-ip-exposure --stun --turn on the caller, consent and servers on the callee",
			callerArgs: append([]string{"--mode", "p2p", "--allow-ip-exposure"}, servers("alice")...),
			calleeArgs: append([]string{"--allow-ip-exposure"}, servers("bob")...),
			check:      checkP2P,
		},
		{
			name:       "relay",
			desc:       "--mode relay --allow-ip-exposure --turn on the caller, consent and TURN on the callee",
			callerArgs: []string{"--mode", "relay", "--allow-ip-exposure", "--turn", turnURL, "--turn-username", "alice", "--turn-credential", pub.Users["alice"]},
			calleeArgs: []string{"--allow-ip-exposure", "--turn", turnURL, "--turn-username", "bob", "--turn-credential", pub.Users["bob"]},
			check:      checkRelay,
		},
		{
			name:       "fallback",
			desc:       "lokicall's UDP dropped on alice's lokitun0 (TCP signalling passes); caller --fallback relay --allow-ip-exposure, servers from the config file; callee consents",
			callerArgs: []string{"--fallback", "relay", "--allow-ip-exposure"},
			calleeArgs: []string{"--allow-ip-exposure"},
			callerCfg:  true, calleeCfg: true, dropOnion: true,
			check: checkFallback,
		},
		{
			name:      "fallback-refused",
			desc:      "the same dead onion media path, servers in the config file, no --fallback and no consent on the caller",
			callerCfg: true, calleeCfg: true, dropOnion: true,
			calleeArgs: []string{"--allow-ip-exposure"},
			check:      checkNoFallback,
		},
	}
}

// Run runs the modes scenarios (one call per connectivity mode) on the testnet with the
// public network (testnet/compose.public.yaml: Testnet.Compose must name
// it) and writes modes.json and summary.md under
// r.Results/<date>-modes/. It returns an error wrapping ErrFailed if a
// scenario failed a check.
func (r *Runner) Run(ctx context.Context, plan Plan) (*Report, error) {
	if plan.Duration <= 0 {
		plan.Duration = DefaultDuration
	}
	if plan.Public.TURN == "" {
		plan.Public = DefaultPublicNet
	}
	start := time.Now()
	runName := start.Format("2006-01-02T150405") + "-modes"
	rep := &Report{Plan: plan, Dir: filepath.Join(r.Results, runName), Started: start, UID: r.Testnet.UID}
	if err := os.MkdirAll(rep.Dir, 0o777); err != nil {
		return nil, fmt.Errorf("modes: %w", err)
	}
	_ = os.Chmod(rep.Dir, 0o777) // lokicall writes here as its own uid
	cdir := "/results/" + runName

	specs := scenarios(plan.Public)
	if len(plan.Only) > 0 {
		var keep []spec
		for _, s := range specs {
			for _, o := range plan.Only {
				if s.name == o {
					keep = append(keep, s)
				}
			}
		}
		specs = keep
	}
	total := len(specs) + 1
	progress := func(step int, sc, what string) {
		if r.Progress != nil {
			r.Progress(runner.Progress{Step: step, Total: total, Scenario: sc, What: what, Elapsed: time.Since(start)})
		}
	}
	progress(1, "setup", "starting the testnet with the public network")
	if err := r.up(ctx); err != nil {
		return rep, err
	}
	bob, err := r.Testnet.Whoami(ctx, "bob")
	if err != nil {
		return rep, err
	}
	for _, who := range []string{"alice", "bob"} {
		if err := writeConfig(filepath.Join(rep.Dir, who+".toml"), plan.Public, who); err != nil {
			return rep, err
		}
	}
	defer r.removeTables(context.WithoutCancel(ctx))

	for i, s := range specs {
		progress(i+2, s.name, s.desc)
		sc := r.runScenario(ctx, s, plan, rep.Dir, cdir, bob, 7790+i)
		rep.Scenarios = append(rep.Scenarios, sc)
		if err := runner.WriteJSON(filepath.Join(rep.Dir, s.name, "scenario.json"), sc); err != nil {
			return rep, err
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.Finished = time.Now()
	rep.Passed = len(rep.Scenarios) > 0
	var failed []string
	for _, sc := range rep.Scenarios {
		if !sc.Passed {
			rep.Passed = false
			failed = append(failed, sc.Name)
		}
	}
	if err := runner.WriteJSON(filepath.Join(rep.Dir, "modes.json"), rep); err != nil {
		return rep, err
	}
	if err := os.WriteFile(filepath.Join(rep.Dir, "summary.md"), []byte(summary(rep)), 0o644); err != nil {
		return rep, fmt.Errorf("modes: %w", err)
	}
	if !rep.Passed {
		return rep, fmt.Errorf("%w: %s", ErrFailed, strings.Join(failed, ", "))
	}
	return rep, nil
}

// up starts the services (compose up -d: idempotent) and waits for
// both nodes' paths and the turn server.
func (r *Runner) up(ctx context.Context) error {
	env := append(runner.DefaultParams.Env(), fmt.Sprintf("LOKICALL_UID=%d", r.Testnet.UID))
	if err := r.Testnet.ComposeUp(ctx, env); err != nil {
		return err
	}
	for _, n := range []string{"alice", "bob"} {
		if _, err := r.Testnet.Exec(ctx, n, false, nil, nil, "/lokinet-emu", "wait", "-timeout", "90s"); err != nil {
			return fmt.Errorf("%w: %s has no path: %w", runner.ErrTestnet, n, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := r.Testnet.Exec(ctx, "turn", false, nil, nil, "/lokinet-emu", "turnstats")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the turn service does not answer (is testnet/compose.public.yaml in -compose?): %w", runner.ErrTestnet, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeConfig writes a lokicall config file with the public STUN and
// TURN servers in [privacy] (and nothing else: the mode stays onion).
func writeConfig(path string, pub PublicNet, user string) error {
	srv := fmt.Sprintf("%s:%d", pub.TURN, pub.Port)
	cfg := fmt.Sprintf("# written by testnet-runner modes: servers configured, mode left at its default\n"+
		"[privacy]\nstun = [%q]\nturn = [%q]\nturn_username = %q\nturn_credential = %q\n",
		"stun:"+srv, "turn:"+srv+"?transport=udp", user, pub.Users[user])
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("modes: %w", err)
	}
	_ = os.Chmod(path, 0o644)
	return nil
}

// nftArgs are the nftcount arguments of one node in a scenario.
func nftArgs(pub PublicNet, node string, dropOnion bool) []string {
	peerPublic, peerUnderlay := pub.Bob, pub.BobUnderlay
	if node == "bob" {
		peerPublic, peerUnderlay = pub.Alice, pub.AliceUnderlay
	}
	args := []string{"/lokinet-emu", "nftcount", "-reset", "-uid", "",
		"-from", strings.Join([]string{peerPublic, pub.TURN, peerUnderlay}, ","),
		"-to", strings.Join([]string{pub.TURN, peerPublic, pub.Prefix, pub.Underlay}, ","),
		// The underlay stands for Lokinet's own links: lokicall's packets
		// are kept off it (from or to its addresses: a socket bound there
		// would otherwise reach the public network through the docker
		// host's NAT) so that every exposure crosses the public network
		// from the node's own public address, where the counters see it.
		"-drop-net", pub.Underlay}
	if dropOnion && node == "alice" {
		args = append(args, "-drop-udp-iface", leak.DefaultInterface)
	}
	return args
}

func (r *Runner) runScenario(ctx context.Context, s spec, plan Plan, runDir, runCDir, bob string, port int) *Scenario {
	sc := &Scenario{Name: s.name, Description: s.desc, Start: time.Now(),
		NFT: map[string]NFTCounts{}, Leak: map[string]leak.Counts{}}
	dir := filepath.Join(runDir, s.name)
	cdir := runCDir + "/" + s.name
	fail := func(err error) *Scenario {
		sc.Error = err.Error()
		sc.Checks = append(sc.Checks, Check{Name: "scenario ran", Detail: sc.Error})
		return sc
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fail(err)
	}
	_ = os.Chmod(dir, 0o777)
	uid := strconv.Itoa(r.Testnet.UID)
	for _, node := range []string{"alice", "bob"} {
		args := nftArgs(plan.Public, node, s.dropOnion)
		args[4] = uid
		if _, err := r.Testnet.Exec(ctx, node, false, nil, nil, args...); err != nil {
			return fail(err)
		}
		if _, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "leakcheck", "-reset", "-uid", uid); err != nil {
			return fail(err)
		}
	}
	if _, err := r.Testnet.Exec(ctx, "turn", false, nil, nil, "/lokinet-emu", "turnstats", "-reset"); err != nil {
		return fail(err)
	}

	calleeEnv, callerEnv := []string(nil), []string(nil)
	if s.calleeCfg {
		sc.Callee.Config = runCDir + "/bob.toml"
		calleeEnv = []string{"LOKICALL_CONFIG=" + sc.Callee.Config}
	}
	if s.callerCfg {
		sc.Caller.Config = runCDir + "/alice.toml"
		callerEnv = []string{"LOKICALL_CONFIG=" + sc.Caller.Config}
	}
	sc.Callee.Args = append([]string{"/lokicall", "listen", "--accept", "auto", "--calls", "1", "--port", strconv.Itoa(port),
		"--in", "tone:660", "--out", "null", "--json", "--log-level", "debug"}, s.calleeArgs...)
	sc.Caller.Args = append([]string{"/lokicall", "call", fmt.Sprintf("%s:%d", bob, port),
		"--in", "tone:440", "--out", "null", "--duration", plan.Duration.String(), "--json", "--log-level", "debug"}, s.callerArgs...)
	if err := r.call(ctx, sc, dir, cdir, calleeEnv, callerEnv); err != nil {
		return fail(err)
	}

	// Counters after the call.
	out, err := r.Testnet.Exec(ctx, "turn", false, nil, nil, "/lokinet-emu", "turnstats")
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal([]byte(out), &sc.TURN); err != nil {
		return fail(fmt.Errorf("%w: turnstats: %w", runner.ErrTestnet, err))
	}
	for _, node := range []string{"alice", "bob"} {
		out, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "nftcount")
		if err != nil {
			return fail(err)
		}
		var n NFTCounts
		if err := json.Unmarshal([]byte(out), &n); err != nil {
			return fail(fmt.Errorf("%w: nftcount on %s: %w", runner.ErrTestnet, node, err))
		}
		sc.NFT[node] = n
		out, err = r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "leakcheck", "-uid", uid)
		if err != nil {
			return fail(err)
		}
		var c leak.Counts
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			return fail(fmt.Errorf("%w: leakcheck on %s: %w", runner.ErrTestnet, node, err))
		}
		sc.Leak[node] = c
	}
	// The onion path must work again for the next scenario.
	if s.dropOnion {
		if _, err := r.Testnet.Exec(ctx, "alice", false, nil, nil, "/lokinet-emu", "nftcount", "-remove"); err != nil {
			return fail(err)
		}
	}
	s.check(sc, plan.Public)
	checkSources(sc, plan.Public)
	sc.Passed = sc.Error == "" && len(sc.Checks) > 0
	for _, c := range sc.Checks {
		sc.Passed = sc.Passed && c.Passed
	}
	return sc
}

// removeTables deletes the nftcount tables (and the drop rules).
func (r *Runner) removeTables(ctx context.Context) {
	for _, node := range []string{"alice", "bob"} {
		if _, err := r.Testnet.Exec(ctx, node, false, nil, nil, "/lokinet-emu", "nftcount", "-remove"); err != nil {
			r.log().Warn("removing the modes counters", "node", node, "err", err)
		}
	}
}

// call runs the callee, waits for it to listen, runs the caller and
// parses both sides' events.
func (r *Runner) call(ctx context.Context, sc *Scenario, dir, _ string, calleeEnv, callerEnv []string) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	files := map[string]*os.File{}
	for _, n := range []string{"callee.jsonl", "callee.log", "caller.jsonl", "caller.log"} {
		f, err := os.Create(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("modes: %w", err)
		}
		defer f.Close()
		files[n] = f
	}
	calleeDone := make(chan error, 1)
	calleeExited := make(chan struct{})
	go func() {
		err := r.Testnet.ExecEnv(cctx, "bob", calleeEnv, files["callee.jsonl"], files["callee.log"], sc.Callee.Args...)
		close(calleeExited)
		calleeDone <- err
	}()
	if !runner.WaitForLine(calleeExited, filepath.Join(dir, "callee.jsonl"), []byte(`"event":"listening"`), 30*time.Second) {
		cancel()
		err := <-calleeDone
		return fmt.Errorf("callee never listened: %v", err)
	}
	callerErr := r.Testnet.ExecEnv(cctx, "alice", callerEnv, files["caller.jsonl"], files["caller.log"], sc.Caller.Args...)
	var calleeErr error
	select {
	case calleeErr = <-calleeDone:
	case <-time.After(20 * time.Second):
		cancel()
		calleeErr = <-calleeDone
	}
	parseSide(&sc.Caller, filepath.Join(dir, "caller.jsonl"))
	parseSide(&sc.Callee, filepath.Join(dir, "callee.jsonl"))
	sc.Caller.Exit, sc.Callee.Exit = exitstatus.Of(callerErr), exitstatus.Of(calleeErr)
	return nil
}

// parseSide fills s from a lokicall process's JSON events.
func parseSide(s *Side, path string) {
	side, err := runner.ReadSide(path)
	s.States = side.States
	if err != nil {
		s.Error = err.Error()
		return
	}
	s.Reason, s.Error = side.Reason, side.Error
	s.Exposure, s.Fallback = side.Exposure, side.States["fallback"]
	if st := side.Stats; st != nil {
		s.Mode, s.LocalCandidate, s.RemoteCandidate = st.Mode, st.LocalCandidate, st.RemoteCandidate
		s.PacketsSent, s.PacketsReceived, s.FramesPlayed, s.SetupMS = st.PacketsSent, st.PacketsReceived, st.FramesPlayed, st.SetupMS
	}
}
