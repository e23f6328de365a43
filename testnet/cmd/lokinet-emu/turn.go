package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// The turn role: a STUN/TURN server (pion/turn) on the "public" network of
// the modes scenarios. It answers STUN binding requests and TURN
// allocations over UDP and counts every packet it receives by source IP:
// on its listening port ("server") and on the relay ports it allocates
// ("relay"). The first packet from each source address is logged (a JSON
// line with LOKINET_EMU_LOG=json) with its arrival time on this host's
// clock; the counters are served as JSON on a control address on loopback
// (read them with `lokinet-emu turnstats`).

// sourceCount is what the server received from one source IP.
type sourceCount struct {
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Packets uint64    `json:"packets"`
	Bytes   uint64    `json:"bytes"`
}

// turnCounts is the JSON of the control address.
type turnCounts struct {
	Since time.Time `json:"since"`
	// Server: packets to the STUN/TURN port, by source IP.
	Server map[string]*sourceCount `json:"server"`
	// Relay: packets to allocated relay ports, by source IP.
	Relay map[string]*sourceCount `json:"relay"`
}

// counter counts packets by source; safe for concurrent use.
type counter struct {
	mu    sync.Mutex
	log   *slog.Logger
	since time.Time
	by    map[string]map[string]*sourceCount // kind → IP → count
	seen  map[string]bool                    // kind + address (with port) already logged
}

func newCounter(log *slog.Logger) *counter {
	c := &counter{log: log}
	c.reset()
	return c
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since = time.Now()
	c.by = map[string]map[string]*sourceCount{"server": {}, "relay": {}}
	c.seen = map[string]bool{}
}

func (c *counter) add(kind string, from net.Addr, n int) {
	now := time.Now()
	ap, err := netip.ParseAddrPort(from.String())
	ip := from.String()
	if err == nil {
		ip = ap.Addr().Unmap().String()
	}
	c.mu.Lock()
	sc := c.by[kind][ip]
	if sc == nil {
		sc = &sourceCount{First: now}
		c.by[kind][ip] = sc
	}
	sc.Last = now
	sc.Packets++
	sc.Bytes += uint64(n)
	first := !c.seen[kind+" "+from.String()]
	c.seen[kind+" "+from.String()] = true
	c.mu.Unlock()
	if first {
		c.log.Info("turn: first packet", "kind", kind, "src", from.String(), "src_ip", ip,
			"at", now.Format(time.RFC3339Nano), "bytes", n)
	}
}

func (c *counter) snapshot() turnCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := turnCounts{Since: c.since, Server: map[string]*sourceCount{}, Relay: map[string]*sourceCount{}}
	for ip, sc := range c.by["server"] {
		v := *sc
		out.Server[ip] = &v
	}
	for ip, sc := range c.by["relay"] {
		v := *sc
		out.Relay[ip] = &v
	}
	return out
}

// countingPacketConn counts what ReadFrom returns.
type countingPacketConn struct {
	net.PacketConn
	kind string
	c    *counter
}

func (p *countingPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := p.PacketConn.ReadFrom(b)
	if err == nil && addr != nil {
		p.c.add(p.kind, addr, n)
	}
	return n, addr, err
}

// countingRelays allocates relay sockets on one address and counts what
// they receive.
type countingRelays struct {
	*turn.RelayAddressGeneratorStatic
	c *counter
}

func (g *countingRelays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	return &countingPacketConn{PacketConn: pc, kind: "relay", c: g.c}, addr, nil
}

// parseUsers parses "name=password,name=password".
func parseUsers(s string) (map[string]string, error) {
	users := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		name, pass, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("turn: -users: %q: want name=password", kv)
		}
		users[name] = pass
	}
	if len(users) == 0 {
		return nil, errors.New("turn: -users: no user")
	}
	return users, nil
}

// runTURN is the turn role.
func runTURN(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("turn", flag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:3478", "UDP address for STUN and TURN")
	relayIP := fs.String("relay-ip", "", "the public address relays are allocated on and advertised with (required)")
	realm := fs.String("realm", "lokicall.test", "TURN realm")
	usersFlag := fs.String("users", "lokicall=lokicall", "TURN users: name=password,...")
	control := fs.String("control", "127.0.0.1:3479", "HTTP address of the counters (GET /stats, POST /reset)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ip := net.ParseIP(*relayIP)
	if ip == nil || ip.To4() == nil {
		return fmt.Errorf("turn: -relay-ip %q: want an IPv4 address", *relayIP)
	}
	users, err := parseUsers(*usersFlag)
	if err != nil {
		return err
	}
	keys := map[string][]byte{}
	for u, p := range users {
		keys[u] = turn.GenerateAuthKey(u, *realm, p)
	}
	cnt := newCounter(log)
	pc, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		return fmt.Errorf("turn: %w", err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: *realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			k, ok := keys[ra.Username]
			if !ok {
				log.Warn("turn: unknown user", "user", ra.Username, "src", ra.SrcAddr)
			}
			return ra.Username, k, ok
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: &countingPacketConn{PacketConn: pc, kind: "server", c: cnt},
			RelayAddressGenerator: &countingRelays{
				RelayAddressGeneratorStatic: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: ip.String()},
				c:                           cnt,
			},
		}},
	})
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("turn: %w", err)
	}
	defer srv.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cnt.snapshot())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		cnt.reset()
		log.Info("turn: counters reset")
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("turn: control: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	log.Info("turn running", "listen", pc.LocalAddr().String(), "relay_ip", ip.String(), "realm", *realm, "control", ln.Addr().String())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("turn: control: %w", err)
	}
	return nil
}

// runTURNStats reads (and with -reset zeroes) a turn server's counters from
// its control address and prints them as one JSON line.
func runTURNStats(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("turnstats", flag.ContinueOnError)
	control := fs.String("control", "127.0.0.1:3479", "the turn server's control address")
	reset := fs.Bool("reset", false, "zero the counters after reading them")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*control+"/stats", nil)
	if err != nil {
		return fmt.Errorf("turnstats: %w", err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("turnstats: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("turnstats: %w", err)
	}
	if *reset {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*control+"/reset", nil)
		if err != nil {
			return fmt.Errorf("turnstats: %w", err)
		}
		r2, err := cl.Do(req)
		if err != nil {
			return fmt.Errorf("turnstats: reset: %w", err)
		}
		r2.Body.Close()
	}
	return nil
}
