package sqlite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
)

// TestExistingFilesChecked (issue #15, item 4): an existing database file, or
// its -wal or -shm, that others may read or write, that another user owns, or
// that is a symbolic link, is refused with a message saying what to do;
// SQLite would otherwise keep (and give its -wal and -shm) the loose mode.
func TestExistingFilesChecked(t *testing.T) {
	t.Parallel()
	// A database as a previous run leaves it: the file with its -wal and -shm.
	setup := func(t *testing.T) string {
		path := dbPath(t)
		open(t, path) // kept open until the test ends, so its -wal and -shm stay
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("setup: %v", err)
			}
		}
		return path
	}
	refused := func(t *testing.T, path, want string) {
		t.Helper()
		s, err := sqlite.Open(testCtx(t), path)
		if err == nil {
			s.Close()
			t.Fatalf("Open succeeded; want an error saying %q", want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Open: %v; want an error saying %q", err, want)
		}
		t.Log(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		for _, m := range []os.FileMode{0o644, 0o640, 0o666} {
			t.Run("file"+suffix+" mode "+m.String(), func(t *testing.T) {
				path := setup(t)
				if err := os.Chmod(path+suffix, m); err != nil {
					t.Fatal(err)
				}
				refused(t, path, "chmod 600")
			})
		}
	}
	t.Run("symbolic link", func(t *testing.T) {
		path := setup(t)
		link := filepath.Join(t.TempDir(), "link.db")
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		refused(t, link, "symbolic link")
	})
	t.Run("another user's file", func(t *testing.T) {
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("this test needs root to make a file owned by another user")
			}
			t.Skip("needs root to make a file owned by another user")
		}
		path := setup(t)
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		refused(t, path, "owned by")
	})
	t.Run("private files open", func(t *testing.T) {
		path := setup(t)
		open(t, path)
	})
}
