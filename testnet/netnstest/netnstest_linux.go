package netnstest

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Enter locks the calling goroutine to its thread and moves that thread into
// a new network namespace whose loopback is up; sockets and netlink
// connections the goroutine opens afterwards belong to it. It skips the test
// without root or namespaces. The thread is never unlocked: it dies with its
// namespace when the goroutine ends.
func Enter(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Skipf("unshare: %v", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
}

// rerunEnv marks the run of a test that Rerun started.
const rerunEnv = "LOKICALL_NETNS_RERUN"

// Rerun runs the calling test again, the whole test binary, in a new
// network namespace (unshare -n) with its loopback up, and reports whether
// this is that run: the caller returns when it is not. Unlike Enter, every
// goroutine and thread of the test is in the namespace. It skips the test
// without root, unshare(1) or namespaces, and fails it if the run fails.
func Rerun(t *testing.T) bool {
	t.Helper()
	if os.Getenv(rerunEnv) == t.Name() {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			t.Fatal(err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1)")
	}
	if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v %s", err, out)
	}
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rerunEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("run in a fresh network namespace: %v", err)
	}
	return false
}

// AddTUN creates a TUN interface like Lokinet's, with addr, up, in the
// calling thread's network namespace. It goes away when the returned file
// is closed, as when the daemon stops.
func AddTUN(t testing.TB, name string, addr netip.Prefix) *os.File {
	t.Helper()
	tun := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: name, MTU: 1500},
		Mode:       netlink.TUNTAP_MODE_TUN,
		Flags:      netlink.TUNTAP_NO_PI | netlink.TUNTAP_TUN_EXCL,
		Queues:     1,
		NonPersist: true,
	}
	if err := netlink.LinkAdd(tun); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipn}); err != nil {
		t.Fatalf("address %s: %v", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatalf("bring %s up: %v", name, err)
	}
	return tun.Fds[0]
}
