package caddymodule

import (
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
