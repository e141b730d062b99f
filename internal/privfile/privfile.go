// Package privfile checks the files that hold what only the gateway may read
// (the embedded database, the generated secret) before they are used: a file
// others can read may already have leaked, one others can write or own may
// have been replaced, and a symbolic link sends reads and writes wherever
// whoever made it chose.
package privfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Check refuses the file at path unless it is a regular file (not a symbolic
// link), accessible to its owner only, and owned by this process's user. A
// missing file passes: the caller creates it private.
func Check(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return checkInfo(path, fi)
}

func checkInfo(path string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link: give the real path instead, or replace the link with the file", path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 && !modeUnchecked {
		return fmt.Errorf("%s has mode %04o: others may read or change it; run chmod 600 %s (and if others could read it, treat what it holds as leaked)", path, m, path)
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by user %d, not by the user running the gateway (%d): run the gateway, and the CLI, as the user that owns its files (sudo -u …)", path, uid, os.Geteuid())
	}
	return nil
}

// Read reads the file at path after Check, without following a symbolic link
// even if one appears between the check and the read.
func Read(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		if isLoop(err) {
			return nil, fmt.Errorf("%s is a symbolic link: give the real path instead, or replace the link with the file", path)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkInfo(path, fi); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 1<<16))
}
