//go:build race

package clientcache_test

// raceEnabled reports whether the race detector is on: it adds shadow memory
// and changes allocations, so heap measurements mean nothing under it.
const raceEnabled = true
