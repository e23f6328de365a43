package leak

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Install (re)creates the counting table in the current network namespace,
// with all counters at zero. It needs CAP_NET_ADMIN.
func Install(cfg Config) error {
	cfg = cfg.withDefaults()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("leak: install: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table}
	if tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err == nil {
		for _, old := range tables {
			if old.Name == cfg.Table {
				c.DelTable(old)
			}
		}
	}
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	uid := matchUID(cfg.UID)
	accept := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, UserData: []byte(tagLokinet),
		Exprs: concat(uid, matchOIF(cfg.Interface), accept)})
	r4 := cfg.Resolver.As4()
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, UserData: []byte(tagResolver),
		Exprs: concat(uid, matchOIF("lo"), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r4[:]},
		}, accept)})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, UserData: []byte(tagLeaked),
		Exprs: concat(uid, []expr.Any{&expr.Counter{}})})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("leak: install table %s: %w", cfg.Table, err)
	}
	return nil
}

// Read returns the counters; ErrNotInstalled if Install has not run.
func Read(cfg Config) (Counts, error) {
	cfg = cfg.withDefaults()
	c, err := nftables.New()
	if err != nil {
		return Counts{}, fmt.Errorf("leak: read: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "output", Table: t})
	if err != nil || len(rules) == 0 {
		return Counts{}, fmt.Errorf("%w: table %s: %v", ErrNotInstalled, cfg.Table, err)
	}
	out := Counts{UID: cfg.UID}
	for _, r := range rules {
		var cnt Count
		for _, e := range r.Exprs {
			if ce, ok := e.(*expr.Counter); ok {
				cnt = Count{Packets: ce.Packets, Bytes: ce.Bytes}
			}
		}
		switch string(r.UserData) {
		case tagLokinet:
			out.Lokinet = cnt
		case tagResolver:
			out.Resolver = cnt
		case tagLeaked:
			out.Leaked = cnt
		}
	}
	return out, nil
}

// Remove deletes the table.
func Remove(cfg Config) error {
	cfg = cfg.withDefaults()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("leak: remove: %w", err)
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("leak: remove table %s: %w", cfg.Table, err)
	}
	return nil
}

func matchUID(uid uint32) []expr.Any {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uid)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// matchOIF matches the output interface name (IFNAMSIZ bytes, zero padded).
func matchOIF(name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
