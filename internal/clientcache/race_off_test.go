//go:build !race

package clientcache_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
