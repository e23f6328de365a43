package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lokicall/lokicall/lokinet"
)

const defaultDNS = "127.3.2.1:53"

var errUnknownName = errors.New("unknown name")

// query sends one question and returns the reply, or an error on silence.
func query(ctx context.Context, server, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, server)
	return r, err
}

// resolve asks the node's DNS for name's A record the way a client of
// Lokinet must (DESIGN.md §3): SERVFAIL and silence are retried with backoff
// for up to 45 s, NXDOMAIN is final.
func resolve(ctx context.Context, server, name string, log *slog.Logger) (netip.Addr, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := query(ctx, server, name, dns.TypeA, 6*time.Second)
		switch {
		case err != nil:
			log.Info("no DNS reply, retrying", "name", name, "attempt", attempt, "err", err)
		case r.Rcode == dns.RcodeNameError:
			return netip.Addr{}, attempt, fmt.Errorf("%w: %s", errUnknownName, name)
		case r.Rcode == dns.RcodeServerFailure:
			log.Info("SERVFAIL, retrying", "name", name, "attempt", attempt, "backoff", backoff)
		case r.Rcode == dns.RcodeSuccess:
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					ip, _ := netip.AddrFromSlice(a.A)
					return ip.Unmap(), attempt, nil
				}
			}
			return netip.Addr{}, attempt, fmt.Errorf("%s: no A record in answer", name)
		default:
			return netip.Addr{}, attempt, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
		}
		if err == nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, 2*time.Second)
		}
		if ctx.Err() != nil {
			return netip.Addr{}, attempt, fmt.Errorf("%s unreachable: %w", name, ctx.Err())
		}
	}
}

// whoami returns the node's own address and IP from localhost.loki.
func whoami(ctx context.Context, server string) (string, netip.Addr, error) {
	r, err := query(ctx, server, "localhost.loki", dns.TypeA, 2*time.Second)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("whoami: %w", err)
	}
	var name string
	var ip netip.Addr
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.CNAME:
			name = strings.TrimSuffix(v.Target, ".")
		case *dns.A:
			ip, _ = netip.AddrFromSlice(v.A)
			ip = ip.Unmap()
		}
	}
	if name == "" || !ip.IsValid() {
		return "", netip.Addr{}, fmt.Errorf("whoami: unexpected answer %v", r.Answer)
	}
	return name, ip, nil
}

func runWhoami(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	server := fs.String("dns", defaultDNS, "the node's DNS server")
	if err := parse(fs, args); err != nil {
		return err
	}
	name, ip, err := whoami(ctx, *server)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", name, ip)
	return nil
}

func runUDPEcho(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("udpecho", flag.ContinueOnError)
	server := fs.String("dns", defaultDNS, "the node's DNS server")
	port := fs.Int("port", 9000, "UDP port, on the node's Lokinet address")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, ip, err := whoami(ctx, *server)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(*port))))
	if err != nil {
		return fmt.Errorf("udpecho: %w", err)
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(*port))))
	if err != nil {
		conn.Close()
		return fmt.Errorf("udpecho: %w", err)
	}
	go func() {
		<-ctx.Done()
		conn.Close()
		ln.Close()
	}()
	go tcpEcho(ctx, ln, *server, log)
	log.Info("udpecho listening", "addr", conn.LocalAddr(), "tcp", true)
	seen := map[netip.Addr]bool{}
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("udpecho: %w", err)
		}
		if !seen[from.Addr()] {
			seen[from.Addr()] = true
			log.Info("new peer", "from", from, "proto", "udp", "ptr", ptr(ctx, *server, from.Addr()))
		}
		if _, err := conn.WriteToUDPAddrPort(buf[:n], from); err != nil {
			log.Warn("echo failed", "to", from, "err", err)
		}
	}
}

// tcpEcho echoes every TCP connection accepted on ln.
func tcpEcho(ctx context.Context, ln *net.TCPListener, server string, log *slog.Logger) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		from := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		log.Info("new peer", "from", from, "proto", "tcp", "ptr", ptr(ctx, server, from.Addr().Unmap()))
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// ptr is the caller ID of ip: its address by a PTR query, or "?".
func ptr(ctx context.Context, server string, ip netip.Addr) string {
	r, err := query(ctx, server, reverseName(ip), dns.TypePTR, 2*time.Second)
	if err == nil && len(r.Answer) > 0 {
		if p, ok := r.Answer[0].(*dns.PTR); ok {
			return p.Ptr
		}
	}
	return "?"
}

func reverseName(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
}

// pingResult is udpping's summary, printed as one JSON line with -json.
type pingResult struct {
	Name       string    `json:"name"`
	IP         string    `json:"ip"`
	ResolveMS  float64   `json:"resolve_ms"`
	DNSQueries int       `json:"dns_queries"`
	Sent       int       `json:"sent"`
	Received   int       `json:"received"`
	RTTms      []float64 `json:"rtt_ms"`
	// AtMS is when each echoed probe of RTTms was sent, from the first.
	AtMS  []float64 `json:"at_ms"`
	MinMS float64   `json:"min_ms"`
	AvgMS float64   `json:"avg_ms"`
	MaxMS float64   `json:"max_ms"`
	// MaxGapMS is the longest time between the sending of two consecutive
	// probes that were echoed: how long traffic stopped, to one interval.
	MaxGapMS float64 `json:"max_gap_ms"`
	// Lost lists the sequence numbers of probes that got no echo.
	Lost []int `json:"lost,omitempty"`
}

func runUDPPing(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("udpping", flag.ContinueOnError)
	server := fs.String("dns", defaultDNS, "the node's DNS server")
	count := fs.Int("count", 10, "probes to send")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between probes")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for each echo")
	size := fs.Int("size", 64, "probe payload size in bytes (at least 16)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON line")
	useTCP := fs.Bool("tcp", false, "probe over one TCP connection instead of UDP")
	forDur := fs.Duration("for", 0, "stop sending after this long, whatever -count says (0: no limit)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(fs.Output(), "usage: lokinet-emu udpping [flags] ADDRESS.loki[:PORT]")
		return errUsage
	}
	name, port := fs.Arg(0), 9000
	if h, p, ok := strings.Cut(name, ":"); ok {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("udpping: port %q: %w", p, err)
		}
		name, port = h, n
	}
	_, self, err := whoami(ctx, *server)
	if err != nil {
		return err
	}
	start := time.Now()
	ip, queries, err := resolve(ctx, *server, name, log)
	if err != nil {
		return fmt.Errorf("udpping: %w", err)
	}
	res := pingResult{Name: name, IP: ip.String(), ResolveMS: ms(time.Since(start)), DNSQueries: queries}
	log.Info("resolved", "name", name, "ip", ip, "ms", res.ResolveMS, "queries", queries)
	// Bound to the node's own Lokinet address: nothing leaves elsewhere.
	var conn net.Conn
	local, remote := netip.AddrPortFrom(self, 0), netip.AddrPortFrom(ip, uint16(port))
	if *useTCP {
		start := time.Now()
		conn, err = net.DialTCP("tcp", net.TCPAddrFromAddrPort(local), net.TCPAddrFromAddrPort(remote))
		log.Info("tcp connected", "ms", ms(time.Since(start)), "err", err)
	} else {
		conn, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(remote))
	}
	if err != nil {
		return fmt.Errorf("udpping: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 65536)
	probe := make([]byte, max(*size, 16))
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	var lastOK time.Time
	first := time.Now()
	for seq := range *count {
		if *forDur > 0 && time.Since(first) >= *forDur {
			break
		}
		if seq > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		sent := time.Now()
		binary.BigEndian.PutUint64(probe, uint64(seq))
		binary.BigEndian.PutUint64(probe[8:], uint64(sent.UnixNano()))
		if _, err := conn.Write(probe); err != nil {
			return fmt.Errorf("udpping: %w", err)
		}
		res.Sent++
		if err := conn.SetReadDeadline(sent.Add(*timeout)); err != nil {
			return fmt.Errorf("udpping: %w", err)
		}
		for {
			var n int
			var err error
			if *useTCP {
				n, err = io.ReadFull(conn, buf[:len(probe)])
			} else {
				n, err = conn.Read(buf)
			}
			if err != nil {
				res.Lost = append(res.Lost, seq)
				if !*asJSON {
					fmt.Fprintf(stdout, "seq=%d timeout\n", seq)
				}
				break
			}
			if n < 16 || binary.BigEndian.Uint64(buf) != uint64(seq) {
				continue // a late echo of an earlier probe
			}
			rtt := time.Since(sent)
			if !lastOK.IsZero() {
				res.MaxGapMS = max(res.MaxGapMS, ms(sent.Sub(lastOK)))
			}
			lastOK = sent
			res.Received++
			res.RTTms = append(res.RTTms, ms(rtt))
			res.AtMS = append(res.AtMS, ms(sent.Sub(first)))
			if !*asJSON {
				fmt.Fprintf(stdout, "%d bytes from %s (%s:%d): seq=%d rtt=%.1f ms\n", n, name, ip, port, seq, ms(rtt))
			}
			break
		}
	}
	if res.Received > 0 {
		res.MinMS, res.MaxMS = res.RTTms[0], res.RTTms[0]
		var sum float64
		for _, v := range res.RTTms {
			res.MinMS, res.MaxMS = min(res.MinMS, v), max(res.MaxMS, v)
			sum += v
		}
		res.AvgMS = sum / float64(len(res.RTTms))
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s: resolved in %.0f ms (%d queries); %d sent, %d received; rtt min/avg/max %.1f/%.1f/%.1f ms; longest gap %.0f ms\n",
		name, res.ResolveMS, res.DNSQueries, res.Sent, res.Received, res.MinMS, res.AvgMS, res.MaxMS, res.MaxGapMS)
	if res.Received == 0 {
		return errors.New("udpping: no echo received")
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runWait returns once the node has a path, found out through DNS alone the
// way a client of real Lokinet can: a fresh, unpublished address gets
// SERVFAIL while the node has no paths and NXDOMAIN once it has.
func runWait(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	server := fs.String("dns", defaultDNS, "the node's DNS server")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	probe := lokinet.AddressFromKey(pub).String()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := query(ctx, *server, probe, dns.TypeA, 6*time.Second)
		if err == nil && r.Rcode == dns.RcodeNameError {
			name, _, _ := whoami(ctx, *server)
			fmt.Fprintf(stdout, "%s has paths after %.1f s\n", name, time.Since(start).Seconds())
			return nil
		}
		log.Debug("no paths yet", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait: no path within %v", *timeout)
		case <-tick.C:
		}
	}
}
