package lokinet_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lokicall/lokicall/lokinet"
	"github.com/lokicall/lokicall/lokinet/lokinettest"
)

func probe(ifaces ...lokinet.HostInterface) lokinet.Probe {
	return lokinet.Probe{Interfaces: func() ([]lokinet.HostInterface, error) { return ifaces, nil }}
}

func loIface() lokinet.HostInterface {
	return lokinet.HostInterface{Name: "lo", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}, Up: true, Loopback: true}
}

func loProbe() lokinet.Probe { return probe(loIface()) }

func ethIface() lokinet.HostInterface {
	return lokinet.HostInterface{Name: "eth0", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24")}, Up: true}
}

func tunIface(name, prefix string, up bool) lokinet.HostInterface {
	return lokinet.HostInterface{Name: name, Prefixes: []netip.Prefix{netip.MustParsePrefix(prefix)}, Up: up}
}

func TestDiscover(t *testing.T) {
	tests := []struct {
		name    string
		selfIP  string
		opts    lokinet.DiscoverOptions
		iface   string
		rng     string
		errPart string
	}{
		{name: "lokitun", selfIP: "172.16.0.1",
			opts:  lokinet.DiscoverOptions{Probe: probe(loIface(), ethIface(), tunIface("lokitun0", "172.16.0.1/16", true))},
			iface: "lokitun0", rng: "172.16.0.0/16"},
		{name: "second range", selfIP: "10.1.0.1",
			opts:  lokinet.DiscoverOptions{Probe: probe(loIface(), tunIface("lokitun1", "10.1.0.1/16", true))},
			iface: "lokitun1", rng: "10.1.0.0/16"},
		{name: "192.168 range", selfIP: "192.168.2.1",
			opts:  lokinet.DiscoverOptions{Probe: probe(ethIface(), tunIface("lokitun0", "192.168.2.1/24", true))},
			iface: "lokitun0", rng: "192.168.2.0/24"},
		{name: "exact address beats loopback prefix", selfIP: "127.0.0.9",
			opts:  lokinet.DiscoverOptions{Probe: probe(loIface(), tunIface("lokitun3", "127.0.0.9/32", true))},
			iface: "lokitun3", rng: "127.0.0.9/32"},
		{name: "a non-Lokinet interface holding the address is refused", selfIP: "192.168.1.5",
			opts:    lokinet.DiscoverOptions{Probe: probe(loIface(), ethIface())},
			errPart: "not a lokitun interface"},
		{name: "unless the user names it", selfIP: "192.168.1.5",
			opts:  lokinet.DiscoverOptions{Interface: "eth0", Probe: probe(loIface(), ethIface())},
			iface: "eth0", rng: "192.168.1.0/24"},
		{name: "loopback stand-in 127.0.0.1", selfIP: "127.0.0.1",
			opts: lokinet.DiscoverOptions{Probe: loProbe()}, iface: "lo", rng: "127.0.0.0/8"},
		{name: "loopback stand-in 127.0.0.5", selfIP: "127.0.0.5",
			opts: lokinet.DiscoverOptions{Probe: probe(ethIface(), loIface())}, iface: "lo", rng: "127.0.0.0/8"},
		{name: "mapped prefixes", selfIP: "172.16.0.1",
			opts:  lokinet.DiscoverOptions{Probe: probe(tunIface("lokitun0", "::ffff:172.16.0.1/112", true))},
			iface: "lokitun0", rng: "172.16.0.0/16"},
		{name: "override", selfIP: "172.16.0.1",
			opts:  lokinet.DiscoverOptions{Interface: "sr-tun0", Probe: probe(tunIface("sr-tun0", "172.16.0.1/16", true))},
			iface: "sr-tun0", rng: "172.16.0.0/16"},
		{name: "override lo", selfIP: "127.0.0.5",
			opts:  lokinet.DiscoverOptions{Interface: "lo", Probe: probe(loIface())},
			iface: "lo", rng: "127.0.0.0/8"},

		{name: "override does not hold", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Interface: "eth0", Probe: probe(ethIface(), tunIface("lokitun0", "172.16.0.1/16", true))},
			errPart: "interface eth0 does not hold 172.16.0.1 (own IP of "},
		{name: "override names what it holds", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Interface: "eth0", Probe: probe(ethIface())},
			errPart: "it holds 192.168.1.5/24"},
		{name: "override missing", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Interface: "lokitun9", Probe: probe(loIface(), ethIface())},
			errPart: `no interface named "lokitun9" (looking for 172.16.0.1`},
		{name: "override down", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Interface: "lokitun0", Probe: probe(tunIface("lokitun0", "172.16.0.1/16", false))},
			errPart: "is down"},
		{name: "none holds", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Probe: probe(loIface(), ethIface())},
			errPart: "no interface holds 172.16.0.1"},
		{name: "same subnet other host", selfIP: "192.168.1.77",
			opts:    lokinet.DiscoverOptions{Probe: probe(ethIface())},
			errPart: "looked at eth0 (192.168.1.5/24)"},
		{name: "only holder down", selfIP: "172.16.0.1",
			opts:    lokinet.DiscoverOptions{Probe: probe(ethIface(), tunIface("lokitun0", "172.16.0.1/16", false))},
			errPart: "lokitun0 holds 172.16.0.1"},
		{name: "no interfaces", selfIP: "172.16.0.1",
			opts: lokinet.DiscoverOptions{Probe: probe()}, errPart: "no interfaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *lokinettest.Config) { c.SelfIP = netip.MustParseAddr(tt.selfIP) })
			n, err := lokinet.Discover(t.Context(), f.resolver(), tt.opts)
			if tt.errPart != "" {
				if !errors.Is(err, lokinet.ErrNoInterface) || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("error = %v, want ErrNoInterface containing %q", err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := lokinet.Node{Address: f.self, IP: netip.MustParseAddr(tt.selfIP), Interface: tt.iface, Range: netip.MustParsePrefix(tt.rng)}
			if n != want {
				t.Fatalf("Discover = %+v, want %+v", n, want)
			}
		})
	}
}

func TestDiscoverHostInterfaces(t *testing.T) {
	// The real host: its loopback interface holds the 127.0.0.1 stand-in.
	f := newFixture(t, nil)
	n, err := lokinet.Discover(t.Context(), f.resolver(), lokinet.DiscoverOptions{})
	if err != nil {
		t.Fatalf("Discover on the host: %v", err)
	}
	if n.IP != selfIP || n.Interface == "" || !n.Range.Contains(selfIP) || n.Address != f.self {
		t.Fatalf("Discover = %+v", n)
	}
}

func TestDiscoverErrors(t *testing.T) {
	r := &lokinet.Resolver{Addr: deadAddr(t), Timeout: time.Second}
	if _, err := lokinet.Discover(t.Context(), r, lokinet.DiscoverOptions{Probe: loProbe()}); !errors.Is(err, lokinet.ErrNoDaemon) {
		t.Fatalf("no daemon: %v", err)
	}
	f := newFixture(t, nil)
	boom := errors.New("boom")
	_, err := lokinet.Discover(t.Context(), f.resolver(), lokinet.DiscoverOptions{
		Probe: lokinet.Probe{Interfaces: func() ([]lokinet.HostInterface, error) { return nil, boom }},
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "list interfaces") {
		t.Fatalf("probe failure: %v", err)
	}
}

func TestNodeContains(t *testing.T) {
	n := lokinet.Node{IP: netip.MustParseAddr("172.16.0.1"), Range: netip.MustParsePrefix("172.16.0.0/16")}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"172.16.0.2", true},
		{"172.16.255.254", true},
		{"::ffff:172.16.0.7", true},
		{"172.16.0.1", false}, // itself
		{"172.17.0.2", false},
		{"192.168.1.5", false},
		{"127.0.0.1", false},
		{"fd2e:7365:7368::2", false},
	} {
		if got := n.Contains(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if (lokinet.Node{}).Contains(netip.MustParseAddr("172.16.0.2")) {
		t.Error("zero Node contains an IP")
	}
	lo := lokinet.Node{IP: netip.MustParseAddr("127.0.0.1"), Range: netip.MustParsePrefix("127.0.0.0/8")}
	if !lo.Contains(netip.MustParseAddr("127.0.0.2")) || lo.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("loopback stand-in range rule broken")
	}
}

// TestResolverRefusesHostnameDNSAddress: a DNS address given as a host name
// would itself be looked up through the system resolver, outside Lokinet.
func TestResolverRefusesHostnameDNSAddress(t *testing.T) {
	r := &lokinet.Resolver{Addr: "dns.example.org:53"}
	_, err := r.Self(t.Context())
	if !errors.Is(err, lokinet.ErrBadConfig) {
		t.Fatalf("Self with a host-name DNS address: %v, want ErrBadConfig", err)
	}
}
