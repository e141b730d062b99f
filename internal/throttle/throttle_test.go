package throttle

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const victim = "blnk_cid_victim"

func TestAddressBudget(t *testing.T) {
	th := New(Config{AddressFailures: 5, Window: 10 * time.Second})
	for i := range 5 {
		if d, refused := th.Check("192.0.2.1", victim, t0); refused {
			t.Fatalf("refused after %d failures (retry after %s); the budget is 5", i, d)
		}
		th.Failed("192.0.2.1:4000", victim, t0) // the port does not matter
	}
	d, refused := th.Check("192.0.2.1:5000", "", t0)
	if !refused || d != 2*time.Second {
		t.Fatalf("after 5 failures: refused=%v retry after %s, want refused, 2s (one failure per 2s refills)", refused, d)
	}
	if _, refused := th.Check("192.0.2.2", victim, t0); refused {
		t.Fatal("another address is refused: an address's failures must bound only that address")
	}
	if _, refused := th.Check("192.0.2.1", "", t0.Add(2*time.Second)); refused {
		t.Fatal("still refused once a failure's worth of budget refilled")
	}
}

// The right secret from a clean address keeps working during a flood against its ID.
func TestClientBudgetSparesCleanAddresses(t *testing.T) {
	th := New(Config{AddressFailures: 3, ClientFailures: 10, Window: time.Minute})
	now := t0
	for i := range 10 { // ten attackers, one failure each: no address is over its budget
		th.Failed(fmt.Sprintf("198.51.100.%d", i), victim, now)
	}
	// An attacking address with budget left is refused for the flooded ID...
	if _, refused := th.Check("198.51.100.1", victim, now); !refused {
		t.Fatal("a failing address is not refused for a client ID past its budget")
	}
	// ...but not for another ID, where its own budget still has room.
	if _, refused := th.Check("198.51.100.1", "blnk_cid_other", now); refused {
		t.Fatal("a failing address is refused for a client ID that is not under attack")
	}
	// The real client, from its own address, is never refused.
	if _, refused := th.Check("203.0.113.7", victim, now); refused {
		t.Fatal("a clean address is refused for a flooded client ID")
	}
	// Nor is an address whose last failure is older than the window.
	th.Failed("203.0.113.8", "", now)
	if _, refused := th.Check("203.0.113.8", victim, now.Add(61*time.Second)); refused {
		t.Fatal("an address that last failed more than a window ago is refused for a flooded client ID")
	}
	if _, refused := th.Check("203.0.113.8", victim, now.Add(time.Second)); !refused {
		t.Fatal("an address that failed within the window is not refused for a flooded client ID")
	}
}

func TestIPv6CountsPer64(t *testing.T) {
	th := New(Config{AddressFailures: 2})
	th.Failed("2001:db8:1:2::1", "", t0)
	th.Failed("[2001:db8:1:2:ffff::9]:443", "", t0)
	if _, refused := th.Check("2001:db8:1:2:abcd::1", "", t0); !refused {
		t.Fatal("another address of the same /64 is not refused")
	}
	if _, refused := th.Check("2001:db8:1:3::1", "", t0); refused {
		t.Fatal("an address of another /64 is refused")
	}
	th.Failed("::ffff:192.0.2.9", "", t0)
	th.Failed("192.0.2.9", "", t0)
	if _, refused := th.Check("192.0.2.9", "", t0); !refused {
		t.Fatal("an IPv4-mapped address counts apart from its IPv4 address")
	}
}

func TestBoundedMemory(t *testing.T) {
	th := New(Config{MaxKeys: 1000})
	for i := range 50_000 {
		th.Failed(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), fmt.Sprintf("blnk_cid_%06d", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	addrs, clients := th.Len()
	if addrs > 1000+shards || clients > 1000+shards {
		t.Fatalf("remembered %d addresses and %d client IDs; MaxKeys is 1000", addrs, clients)
	}
	// The most recent attacker is still remembered.
	if _, refused := th.Check("10.0.195.79", "", t0.Add(50*time.Second)); refused {
		t.Fatal("one failure refused") // budget 20: one failure is far from it
	}
}

func TestNilRefusesNothing(t *testing.T) {
	var th *Throttle
	th.Failed("192.0.2.1", victim, t0)
	if _, refused := th.Check("192.0.2.1", victim, t0); refused {
		t.Fatal("a nil Throttle refused")
	}
}

// BenchmarkCheckClean is the cost on every request that presents a client
// credential from an address that never failed.
func BenchmarkCheckClean(b *testing.B) {
	th := New(Config{})
	th.Failed("192.0.2.1", victim, t0)
	b.ReportAllocs()
	for b.Loop() {
		th.Check("203.0.113.7", victim, t0)
	}
}

func TestCheckCleanAllocs(t *testing.T) {
	th := New(Config{})
	th.Failed("192.0.2.1", victim, t0)
	if n := testing.AllocsPerRun(100, func() { th.Check("203.0.113.7:1234", victim, t0) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

// TestReserve: judgements that will read the store take the address's
// remaining budget while they run; a released one gives it back.
func TestReserve(t *testing.T) {
	th := New(Config{AddressFailures: 3, Window: time.Minute})
	now := time.Now()
	for i := range 3 {
		if _, ok := th.Reserve("198.51.100.9", now); !ok {
			t.Fatalf("reservation %d refused within the budget", i+1)
		}
	}
	wait, ok := th.Reserve("198.51.100.9", now)
	if ok || wait < time.Second {
		t.Fatalf("a fourth reservation while three run: ok %v, retry after %v", ok, wait)
	}
	if _, ok := th.Reserve("198.51.100.10", now); !ok {
		t.Fatal("another address was refused")
	}
	th.Release("198.51.100.9")
	if _, ok := th.Reserve("198.51.100.9", now); !ok {
		t.Fatal("a released reservation was not given back")
	}
	// A failure spends the budget for good; a release after it does not.
	th.Failed("198.51.100.9", "", now)
	th.Release("198.51.100.9")
	if _, ok := th.Reserve("198.51.100.9", now); ok {
		t.Fatal("reserved past the budget after a failure")
	}
}

// TestAddrShardSpreads: the first /64s of many delegations (/48s, which
// differ in the middle bytes only) spread over the shards, rather than
// landing in one.
func TestAddrShardSpreads(t *testing.T) {
	seen := map[uint32]bool{}
	for i := range 64 {
		seen[addrShard(addrKey(fmt.Sprintf("2001:db8:%x::1", i)))%shards] = true
	}
	if len(seen) < shards/2 {
		t.Fatalf("the first /64s of 64 /48s use %d of %d shards", len(seen), shards)
	}
}
