//go:build unix

package privfile

import (
	"errors"
	"io/fs"
	"syscall"
)

const (
	noFollow      = syscall.O_NOFOLLOW
	modeUnchecked = false
)

func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
