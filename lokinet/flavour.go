package lokinet

// Flavour names what differs between Lokinet and its successor Session Router
// as far as a client can see: the top-level domain of addresses, the prefix of
// the TUN interface and where the daemon's DNS listens.
type Flavour struct {
	// Name is a human-readable name, such as "lokinet".
	Name string
	// TLD is the top-level domain of node addresses, without dots.
	TLD string
	// InterfacePrefix is the prefix of the daemon's TUN interface names.
	InterfacePrefix string
	// DNSAddr is where the daemon's DNS server listens by default.
	DNSAddr string
}

// Lokinet is the flavour of Lokinet 0.9: ".loki" addresses, lokitunN
// interfaces and, on Linux, DNS on 127.3.2.1:53.
var Lokinet = Flavour{
	Name:            "lokinet",
	TLD:             "loki",
	InterfacePrefix: "lokitun",
	DNSAddr:         defaultDNSAddr,
}
