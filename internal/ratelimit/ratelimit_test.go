package ratelimit

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstThenRate(t *testing.T) {
	ls := New(0)
	l := Limit{Requests: 10, Per: time.Second, Burst: 3}
	for i := range 3 {
		if ok, _ := ls.Allow("c", l, t0); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := ls.Allow("c", l, t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("fourth request: ok=%v wait %s, want refused, 100ms", ok, wait)
	}
	if ok, _ := ls.Allow("other", l, t0); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := ls.Allow("c", l, t0.Add(100*time.Millisecond)); !ok {
		t.Fatal("refused after a token's worth of time")
	}
}

// A changed limit applies at once, keeping the bucket's tokens.
func TestLimitChangesAtOnce(t *testing.T) {
	ls := New(0)
	slow := Limit{Requests: 1, Per: time.Hour, Burst: 1}
	if ok, _ := ls.Allow("c", slow, t0); !ok {
		t.Fatal("first request refused")
	}
	if ok, wait := ls.Allow("c", slow, t0); ok || wait < 59*time.Minute {
		t.Fatalf("second request under 1/h: ok=%v wait %s", ok, wait)
	}
	fast := Limit{Requests: 100, Per: time.Second, Burst: 100}
	// The empty bucket refills at the new rate from the change on.
	if ok, _ := ls.Allow("c", fast, t0.Add(10*time.Millisecond)); ok {
		t.Fatal("an empty bucket allowed a request at the moment its limit changed")
	}
	if ok, _ := ls.Allow("c", fast, t0.Add(21*time.Millisecond)); !ok {
		t.Fatal("refused 11ms after the limit went up to 100/s")
	}
	tighter := Limit{Requests: 1, Per: time.Minute, Burst: 1}
	ls.Allow("c", tighter, t0.Add(30*time.Millisecond))
	if ok, _ := ls.Allow("c", tighter, t0.Add(40*time.Millisecond)); ok {
		t.Fatal("allowed after the limit went down to 1/m with its one request taken")
	}
}

func TestBoundedMemory(t *testing.T) {
	ls := New(1000)
	l := Limit{Requests: 1, Per: time.Hour, Burst: 1}
	for i := range 20_000 {
		ls.Allow(fmt.Sprintf("client-%d", i), l, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := ls.Len(); n > 1000+shards {
		t.Fatalf("%d buckets held; at most 1000", n)
	}
	// Idle buckets that are full again are forgotten at the next sweep.
	fast := Limit{Requests: 100, Per: time.Second, Burst: 100}
	ls2 := New(0)
	for i := range 500 {
		ls2.Allow(fmt.Sprintf("c%d", i), fast, t0)
	}
	for i := range 100 {
		ls2.Allow(fmt.Sprintf("late%d", i), fast, t0.Add(2*time.Minute))
	}
	if n := ls2.Len(); n != 100 {
		t.Fatalf("%d buckets after the first 500 idled back to full, want the 100 new ones", n)
	}
}

func TestStricter(t *testing.T) {
	if !(Limit{Requests: 100, Per: time.Minute}).Stricter(Limit{Requests: 2, Per: time.Second}) {
		t.Error("100/m is not stricter than 2/s")
	}
	if (Limit{Requests: 3600, Per: time.Hour}).Stricter(Limit{Requests: 1, Per: time.Second}) {
		t.Error("3600/h is stricter than 1/s")
	}
}

func TestSetHeaders(t *testing.T) {
	h := http.Header{}
	SetHeaders(h, "client", Limit{Requests: 100, Per: time.Minute, Burst: 200}, 1500*time.Millisecond)
	for k, want := range map[string]string{"RateLimit-Policy": `"client";q=100;w=60`, "RateLimit": `"client";r=0;t=2`, "Retry-After": "2"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestAllowAllocs(t *testing.T) {
	ls := New(0)
	l := Limit{Requests: 1_000_000, Per: time.Second, Burst: 1_000_000}
	ls.Allow("blnk_cid_0123456789", l, t0)
	if n := testing.AllocsPerRun(1000, func() { ls.Allow("blnk_cid_0123456789", l, t0) }); n != 0 {
		t.Fatalf("Allow allocates %v times per call", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	ls := New(0)
	l := Limit{Requests: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		ls.Allow("blnk_cid_0123456789", l, now)
	}
}
