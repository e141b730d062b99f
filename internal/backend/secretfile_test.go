package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// asRoot runs the cases that need another user's file: only root can make
// one. CI runs as root; elsewhere they are skipped with a message.
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root to make a file owned by another user")
		}
		t.Skip("needs root to make a file owned by another user")
	}
}

const goodSecret = "q0mJ3sV9yq8m3Xw1H4nTQm6u9q2L5d8rFh7bKc1sZx4"

// TestEmbeddedSecretFileChecked (issue #15, item 4): an existing secret file
// is used only if it is a regular file, not a symbolic link, owned by this
// process's user and readable by nobody else; otherwise the gateway refuses
// to start, saying what to do, and reads nothing from it.
func TestEmbeddedSecretFileChecked(t *testing.T) {
	setup := func(t *testing.T) (Database, string) {
		dir := t.TempDir()
		db := Database{SQLitePath: filepath.Join(dir, "blnk_auth.db")}
		path := filepath.Join(dir, SecretFileName)
		if err := os.WriteFile(path, []byte(goodSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return db, path
	}
	t.Run("private file", func(t *testing.T) {
		db, _ := setup(t)
		if got, err := db.EmbeddedSecret(); err != nil || got != goodSecret {
			t.Fatalf("EmbeddedSecret = %q, %v", got, err)
		}
	})
	refused := func(t *testing.T, db Database, want string) {
		t.Helper()
		got, err := db.EmbeddedSecret()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("EmbeddedSecret = %q, %v; want an error saying %q", got, err, want)
		}
		if strings.Contains(err.Error(), goodSecret) {
			t.Fatalf("the error shows the secret: %v", err)
		}
		t.Log(err)
	}
	for _, m := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		t.Run("mode "+m.String(), func(t *testing.T) {
			db, path := setup(t)
			if err := os.Chmod(path, m); err != nil {
				t.Fatal(err)
			}
			refused(t, db, "chmod 600")
		})
	}
	t.Run("symbolic link", func(t *testing.T) {
		db, path := setup(t)
		real := filepath.Join(t.TempDir(), "elsewhere")
		if err := os.Rename(path, real); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, path); err != nil {
			t.Fatal(err)
		}
		refused(t, db, "symbolic link")
	})
	t.Run("dangling symbolic link", func(t *testing.T) {
		db, path := setup(t)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(t.TempDir(), "planted")
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		refused(t, db, "symbolic link")
		if _, err := os.Lstat(target); err == nil {
			t.Fatal("a secret was written through the symbolic link")
		}
	})
	t.Run("directory", func(t *testing.T) {
		db, path := setup(t)
		_ = os.Remove(path)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		refused(t, db, "not a regular file")
	})
	t.Run("another user's file", func(t *testing.T) {
		asRoot(t)
		db, path := setup(t)
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		refused(t, db, "owned by")
	})
}
