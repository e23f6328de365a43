package lokinet

// defaultDNSAddr is where Lokinet's DNS server listens on Linux.
const defaultDNSAddr = "127.3.2.1:53"
