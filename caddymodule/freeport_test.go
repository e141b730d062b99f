package caddymodule

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestFreePortOutsideEphemeralRange: the ports the harness hands out for
// Caddy to bind later must lie below the kernel's ephemeral range. A port
// in that range, closed after the check, can be taken meanwhile as the
// local port of any outgoing connection (to PostgreSQL, to a Caddy of
// another test), and Caddy then fails to start with "address in use" — a
// flake seen under load.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	low, _ := ephemeralRange(t)
	for range 50 {
		if p := freePort(t); p >= low {
			t.Fatalf("freePort gave %d, inside the ephemeral range (from %d)", p, low)
		}
	}
}

// TestFreePortCheckCoversEveryAddress: some tests' Caddy binds a port on
// every address (TestCaddyfileExample's and TestREADMECaddyfileSample's sites
// name a host, not an address, and have no bind), so a port held by a
// listener on another address — IPv6 loopback, another interface — is not
// free for them, though 127.0.0.1 alone would take it.
func TestFreePortCheckCoversEveryAddress(t *testing.T) {
	for _, addr := range []string{"[::1]:0", "127.0.0.2:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("cannot listen on %s here: %v", addr, err)
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		if bindable(port) {
			t.Errorf("port %d, held on %s, checked as free", port, addr)
		}
		l.Close()
	}
}

// ephemeralRange is the kernel's range of local ports for outgoing
// connections (Linux's default when it cannot be read).
func ephemeralRange(t testing.TB) (low, high int) {
	low, high = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("ip_local_port_range: %q", b)
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("ip_local_port_range: %q", b)
	}
	return l, h
}
