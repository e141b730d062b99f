package backend

import (
	"testing"
	"time"
)

func TestDenylist(t *testing.T) {
	var d Denylist
	if d.Has("a") {
		t.Fatal("empty list has a")
	}
	now := time.Now()
	d.Add("a", now.Add(time.Hour))
	d.Add("b", now.Add(time.Second))
	d.Add("a", now.Add(2*time.Hour)) // again: still one entry
	if !d.Has("a") || !d.Has("b") || d.Has("c") || d.n.Load() != 2 {
		t.Fatalf("after adds: a %v b %v c %v n %d", d.Has("a"), d.Has("b"), d.Has("c"), d.n.Load())
	}
	d.Prune(now.Add(time.Minute)) // b's token has expired
	if !d.Has("a") || d.Has("b") || d.n.Load() != 1 {
		t.Fatalf("after prune: a %v b %v n %d", d.Has("a"), d.Has("b"), d.n.Load())
	}
	if allocs := testing.AllocsPerRun(100, func() { d.Has("a"); d.Has("zz") }); allocs != 0 {
		t.Errorf("Has allocates %v times", allocs)
	}
}
