//go:build !race

package authserver_test

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
