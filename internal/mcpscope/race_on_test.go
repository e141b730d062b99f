//go:build race

package mcpscope

// raceEnabled reports whether the race detector is on. It makes sync.Pool
// drop items at random, so json.Valid's pooled scanner is reallocated now and
// then, and allocation counts that rely on the pool are not exact.
const raceEnabled = true
