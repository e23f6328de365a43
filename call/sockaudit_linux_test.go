package call

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// socketEntry is one of this process's sockets as the kernel lists it.
type socketEntry struct {
	Proto         string
	Local, Remote netip.AddrPort
}

func (e socketEntry) String() string { return fmt.Sprintf("%s %v -> %v", e.Proto, e.Local, e.Remote) }

// ownSockets lists the IPv4 and IPv6 UDP and TCP sockets this process holds,
// read from /proc: what the kernel says, not what the code meant.
func ownSockets() ([]socketEntry, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []socketEntry
	for _, proto := range []string{"udp", "tcp", "udp6", "tcp6"} {
		f, err := os.Open("/proc/self/net/" + proto)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			local, err1 := parseProcAddr(fields[1])
			remote, err2 := parseProcAddr(fields[2])
			if err1 != nil || err2 != nil {
				f.Close()
				return nil, fmt.Errorf("parse %s line %q", proto, sc.Text())
			}
			out = append(out, socketEntry{Proto: proto, Local: local, Remote: remote})
		}
		f.Close()
	}
	return out, nil
}

// parseProcAddr decodes /proc/net's "0100007F:1F90": the address in host
// byte order, 32 bits at a time, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", h)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	var port uint16
	if _, err := fmt.Sscanf(p, "%X", &port); err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", p)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), port), nil
}

// socketWatcher samples the process's sockets until stopped and keeps every
// distinct one it saw.
type socketWatcher struct {
	mu   sync.Mutex
	seen map[socketEntry]bool
	stop chan struct{}
	done chan struct{}
	err  error
}

func watchSockets(every time.Duration) *socketWatcher {
	w := &socketWatcher{seen: map[socketEntry]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				w.sample()
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *socketWatcher) sample() {
	entries, err := ownSockets()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
		return
	}
	for _, e := range entries {
		w.seen[e] = true
	}
}

// Stop ends sampling and returns every socket seen.
func (w *socketWatcher) Stop() ([]socketEntry, error) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]socketEntry, 0, len(w.seen))
	for e := range w.seen {
		out = append(out, e)
	}
	return out, w.err
}
