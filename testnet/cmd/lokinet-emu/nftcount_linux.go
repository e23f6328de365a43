package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftCount is one counter of the nftcount tool.
type nftCount struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// nftCounts is the nftcount tool's JSON.
type nftCounts struct {
	// From: packets received (any uid) by source address or prefix.
	From map[string]nftCount `json:"from"`
	// To: packets the uid sent, by destination address or prefix.
	To map[string]nftCount `json:"to"`
	// DroppedUDPIface: the uid's UDP packets dropped on -drop-udp-iface.
	DroppedUDPIface *nftCount `json:"dropped_udp_iface,omitempty"`
	// DroppedNet: the uid's packets dropped from or to -drop-net.
	DroppedNet *nftCount `json:"dropped_net,omitempty"`
}

// runNFTCount installs (-reset) or reads an nftables table of counters in
// this network namespace: packets received from given sources, packets the
// uid sends to given destinations, and optional drops of the uid's UDP on
// one interface (an onion media path made impossible while TCP signalling
// passes) or of its packets from or to one prefix (whatever the route). It prints the counters as JSON.
func runNFTCount(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := flag.NewFlagSet("nftcount", flag.ContinueOnError)
	table := fs.String("table", "lokicall_modes", "nftables table (family inet)")
	uid := fs.Uint("uid", 7787, "uid whose outgoing packets are counted and dropped")
	from := fs.String("from", "", "count received packets from these addresses or prefixes (comma-separated)")
	to := fs.String("to", "", "count the uid's packets to these addresses or prefixes (comma-separated)")
	dropIface := fs.String("drop-udp-iface", "", "drop (and count) the uid's UDP packets out of this interface")
	dropNet := fs.String("drop-net", "", "drop (and count) the uid's packets from or to this prefix")
	reset := fs.Bool("reset", false, "(re)install the table with the counters at zero")
	remove := fs.Bool("remove", false, "delete the table and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftcount: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: *table}
	if *remove || *reset {
		if tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err == nil {
			for _, old := range tables {
				if old.Name == *table {
					c.DelTable(old)
				}
			}
		}
		if *remove {
			if err := c.Flush(); err != nil {
				return fmt.Errorf("nftcount: remove %s: %w", *table, err)
			}
			return nil
		}
		if err := installCounts(c, t, uint32(*uid), *from, *to, *dropIface, *dropNet); err != nil {
			return err
		}
	}
	out, err := readCounts(c, t)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fmt.Errorf("nftcount: %w", err)
	}
	return nil
}

func installCounts(c *nftables.Conn, t *nftables.Table, uid uint32, from, to, dropIface, dropNet string) error {
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	// After lokicall_leak's counters (priority filter), so those still see
	// every packet the uid tries to send.
	prio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + 10)
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: prio, Policy: &policy})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: prio, Policy: &policy})
	u := make([]byte, 4)
	binary.NativeEndian.PutUint32(u, uid)
	byUID := []expr.Any{&expr.Meta{Key: expr.MetaKeySKUID, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u}}
	counter := []expr.Any{&expr.Counter{}}
	drop := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
	for _, s := range splitList(from) {
		m, err := matchPrefix(s, 12) // IPv4 source address
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: in, UserData: []byte("from " + s), Exprs: join(m, counter)})
	}
	for _, s := range splitList(to) {
		m, err := matchPrefix(s, 16) // IPv4 destination address
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: out, UserData: []byte("to " + s), Exprs: join(byUID, m, counter)})
	}
	if dropIface != "" {
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, dropIface)
		c.AddRule(&nftables.Rule{Table: t, Chain: out, UserData: []byte("drop-udp-iface"), Exprs: join(byUID, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		}, drop)})
	}
	if dropNet != "" {
		for _, off := range []uint32{12, 16} { // source, then destination
			m, err := matchPrefix(dropNet, off)
			if err != nil {
				return err
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: out, UserData: []byte("drop-net"), Exprs: join(byUID, m, drop)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftcount: install table %s: %w", t.Name, err)
	}
	return nil
}

func readCounts(c *nftables.Conn, t *nftables.Table) (nftCounts, error) {
	out := nftCounts{From: map[string]nftCount{}, To: map[string]nftCount{}}
	for _, chain := range []string{"input", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if err != nil {
			return out, fmt.Errorf("nftcount: table %s not installed (-reset): %w", t.Name, err)
		}
		for _, r := range rules {
			var n nftCount
			for _, e := range r.Exprs {
				if ce, ok := e.(*expr.Counter); ok {
					n = nftCount{Packets: ce.Packets, Bytes: ce.Bytes}
				}
			}
			tag := string(r.UserData)
			switch {
			case strings.HasPrefix(tag, "from "):
				out.From[strings.TrimPrefix(tag, "from ")] = n
			case strings.HasPrefix(tag, "to "):
				out.To[strings.TrimPrefix(tag, "to ")] = n
			case tag == "drop-udp-iface":
				out.DroppedUDPIface = &n
			case tag == "drop-net":
				if out.DroppedNet == nil {
					out.DroppedNet = &nftCount{}
				}
				out.DroppedNet.Packets += n.Packets
				out.DroppedNet.Bytes += n.Bytes
			}
		}
	}
	return out, nil
}

// matchPrefix matches an IPv4 address or prefix at offset (12: source,
// 16: destination) of the network header.
func matchPrefix(s string, offset uint32) ([]expr.Any, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return nil, fmt.Errorf("nftcount: %q: want an IPv4 address or prefix", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() {
		return nil, fmt.Errorf("nftcount: %q: IPv4 only", s)
	}
	p = p.Masked()
	a := p.Addr().As4()
	mask := make([]byte, 4)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
