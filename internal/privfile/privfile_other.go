//go:build !unix

package privfile

import "io/fs"

// Elsewhere (Windows) files have ACLs rather than a mode and an owner ID to
// compare; only the symbolic-link and regular-file checks apply.
const (
	noFollow      = 0
	modeUnchecked = true
)

func owner(fs.FileInfo) (int, bool) { return 0, false }

func isLoop(error) bool { return false }
