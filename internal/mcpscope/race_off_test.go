//go:build !race

package mcpscope

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
