package backend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/privfile"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
)

// Database names a store: PostgreSQL or an embedded SQLite file.
type Database struct {
	// Postgres is the connection string, when the store is PostgreSQL.
	Postgres string
	// SQLitePath is the database file, when the store is embedded.
	SQLitePath string
	// PollInterval, when above zero, makes the change feed poll the change
	// log at this interval: on PostgreSQL instead of LISTEN/NOTIFY (and
	// without prepared statements; see postgres.Options), on SQLite instead
	// of its default 150ms.
	PollInterval time.Duration
	// ListenOnly: PostgreSQL must support LISTEN/NOTIFY through this
	// connection, or Open fails (see postgres.Options.ListenOnly).
	ListenOnly bool
	// MaxStale is max_stale: on PostgreSQL the change feed reports a lost
	// connection by then after it was last known current (see
	// postgres.Options.MaxStale). Default 1s.
	MaxStale time.Duration
}

// Embedded reports whether the store is the embedded SQLite file.
func (d Database) Embedded() bool { return d.SQLitePath != "" }

// Key identifies the database, e.g. for sharing one store between configs.
func (d Database) Key() string {
	poll := ""
	if d.PollInterval > 0 {
		poll = "|poll " + d.PollInterval.String()
	}
	if d.ListenOnly {
		poll = "|listen"
	}
	if d.Embedded() {
		return "sqlite:" + d.SQLitePath + poll
	}
	return "postgres:" + d.Postgres + poll
}

// ParseDatabase reads the database setting: "" for the embedded default at
// defaultPath, sqlite:///path/to/file.db for another file, or a PostgreSQL
// connection string (postgres://… or key=value pairs).
func ParseDatabase(s, defaultPath string) (Database, error) {
	switch {
	case s == "":
		return Database{SQLitePath: defaultPath}, nil
	case strings.HasPrefix(s, "sqlite://"):
		p := strings.TrimPrefix(s, "sqlite://")
		if p == "" || strings.ContainsAny(p, "?#") {
			return Database{}, fmt.Errorf("database %q: want sqlite:///path/to/file.db", s)
		}
		return Database{SQLitePath: filepath.Clean(p)}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"), strings.Contains(s, "=") && !strings.Contains(s, "://"):
		return Database{Postgres: s}, nil
	default:
		return Database{}, errors.New("database: want a postgres:// connection string, sqlite:///path/to/file.db, or nothing for the embedded default")
	}
}

// Open opens (and migrates) the store.
func (d Database) Open(ctx context.Context) (store.Store, error) {
	// Each branch returns a nil interface on error, never a typed nil.
	if d.Embedded() {
		st, err := sqlite.OpenWith(ctx, d.SQLitePath, sqlite.Options{PollInterval: d.PollInterval})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := postgres.OpenWith(ctx, d.Postgres, postgres.Options{PollInterval: d.PollInterval, ListenOnly: d.ListenOnly, MaxStale: d.MaxStale})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// SecretFileName is the generated secret kept beside an embedded database.
const SecretFileName = "blnk_auth.secret"

// EmbeddedSecret returns the secret kept beside the embedded database,
// generating it (mode 0600) on first use. Only the embedded store may do this:
// with PostgreSQL every instance must be given the same secret. An existing
// file is used only if it is private (see package privfile).
func (d Database) EmbeddedSecret() (string, error) {
	if !d.Embedded() {
		return "", errors.New("a generated secret is only for the embedded database")
	}
	dir := filepath.Dir(d.SQLitePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, SecretFileName)
	// Twice at most: a process starting at the same moment may write the
	// file between our look and our write, and then we read its secret.
	for range 2 {
		if err := privfile.Check(path); err != nil {
			return "", err
		}
		b, err := privfile.Read(path)
		if err == nil {
			s := strings.TrimSpace(string(b))
			if len(s) < 32 {
				return "", fmt.Errorf("%s: the secret in it is too short; delete the file only if the database is new", path)
			}
			return s, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		secret, err := writeSecret(dir, path)
		if !errors.Is(err, fs.ErrExist) {
			return secret, err
		}
	}
	return "", fmt.Errorf("%s keeps appearing and disappearing", path)
}

// writeSecret generates a secret and writes it to path, failing with
// fs.ErrExist if path exists by then.
func writeSecret(dir, path string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	// Write it whole under a temporary name, then link it into place: a
	// process starting at the same moment sees no file or a complete one.
	tmp, err := os.CreateTemp(dir, SecretFileName+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return "", err // fs.ErrExist when another process won
	}
	return secret, nil
}
