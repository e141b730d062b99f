package keyring

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/postgres"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store/sqlite"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Secrets of the tests: as an operator would make them (openssl rand -base64 32).
const (
	secretA = "q0mJ3sV9yq8m3Xw1H4nTQm6u9q2L5d8rFh7bKc1sZx4="
	secretB = "Zt4P8wq1Lr6yN2vC9xK3mB7hJ5gF0dS4aQ1eW8uI6oU="
)

// forEachStore runs fn on a new, empty database of each store; open returns
// another handle on that same database each time it is called, as another
// gateway instance would have.
func forEachStore(t *testing.T, fn func(t *testing.T, open func() store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keys.db")
		fn(t, func() store.Store {
			st, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.New(t)
		fn(t, func() store.Store {
			st, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			return st
		})
	})
}

func load(t *testing.T, st store.Store, secret, alg string, previous ...string) *Ring {
	t.Helper()
	ring, err := Load(t.Context(), st, secret, alg, previous...)
	if err != nil {
		t.Fatalf("Load(%s): %v", alg, err)
	}
	if ring.Signing == nil || ring.Signing.Algorithm != alg {
		t.Fatalf("Load(%s): signing key %+v", alg, ring.Signing)
	}
	return ring
}

func storedKeys(t *testing.T, st store.Store) []store.SigningKey {
	t.Helper()
	kr, err := st.Keyring(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return kr.Keys
}

// insertRaw stores sk as it is, as a database administrator (or a copy from
// another database) could.
func insertRaw(t *testing.T, st store.Store, sk store.SigningKey) {
	t.Helper()
	if _, err := st.UpdateKeyring(t.Context(), func(store.Keyring) (store.KeyringUpdate, error) {
		return store.KeyringUpdate{Put: []store.SigningKey{sk}}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func kids(keys []*token.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}

// TestMisconfiguredInstanceWritesNothing (issue #15, item 1): an instance
// with the wrong secret and another algorithm used to generate a key for its
// algorithm, seal it under its wrong secret and insert it before failing, and
// from then on every correctly configured instance failed. Now it fails
// having written nothing, naming the key it could not open, and the others
// keep starting, whatever algorithm they sign with.
func TestMisconfiguredInstanceWritesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		good := load(t, open(), secretA, token.ES256)
		before := storedKeys(t, open())

		_, err := Load(t.Context(), open(), secretB, token.EdDSA)
		if err == nil {
			t.Fatal("an instance with the wrong secret started")
		}
		if msg := err.Error(); !strings.Contains(msg, good.Signing.KID) || !strings.Contains(msg, token.ES256) {
			t.Errorf("error %q names neither the key %s nor its algorithm", msg, good.Signing.KID)
		}
		t.Log(err)
		after := storedKeys(t, open())
		if len(after) != len(before) {
			t.Fatalf("the misconfigured instance wrote: %d keys before, %d after", len(before), len(after))
		}

		// The correctly configured instances still start: the same key signs,
		// and a new algorithm gets its key.
		again := load(t, open(), secretA, token.ES256)
		if again.Signing.KID != good.Signing.KID {
			t.Errorf("signing key changed from %s to %s", good.Signing.KID, again.Signing.KID)
		}
		ed := load(t, open(), secretA, token.EdDSA)
		if !slices.Contains(kids(ed.Keys), good.Signing.KID) {
			t.Errorf("the ES256 key is no longer trusted: %v", kids(ed.Keys))
		}
	})
}

// TestUnopenableRowDoesNotBlock (item 1): a stored key that no instance can
// open (written by a misconfigured instance of an older version, or damaged)
// is skipped, never trusted, and does not stop the instances whose secret
// opens the rest.
func TestUnopenableRowDoesNotBlock(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		good := load(t, open(), secretA, token.ES256)
		foreign, err := token.GenerateKey(token.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := sealV1(foreign, secretB, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		insertRaw(t, open(), bad)

		ring := load(t, open(), secretA, token.ES256)
		if ring.Signing.KID != good.Signing.KID {
			t.Errorf("signing key changed from %s to %s", good.Signing.KID, ring.Signing.KID)
		}
		if slices.Contains(kids(ring.Keys), foreign.KID) {
			t.Errorf("the key sealed under another secret is trusted")
		}
		if len(ring.Skipped) != 1 || !strings.Contains(ring.Skipped[0].Error(), foreign.KID) || !strings.Contains(ring.Skipped[0].Error(), token.EdDSA) {
			t.Errorf("skipped keys reported: %v; want the one naming %s and EdDSA", ring.Skipped, foreign.KID)
		}
	})
}

// TestWeakSecretRefused (item 2): a secret that is 32 characters of almost
// nothing is refused on a new database, with a message saying how to make one.
func TestWeakSecretRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		for _, weak := range []string{strings.Repeat(" ", 32), strings.Repeat("a", 40), strings.Repeat("ab", 20), strings.Repeat("0123", 8)} {
			_, err := Load(t.Context(), open(), weak, token.ES256)
			if err == nil || !strings.Contains(err.Error(), "openssl rand") {
				t.Errorf("secret %q: Load = %v, want a refusal saying how to generate one", weak, err)
			}
		}
		if n := len(storedKeys(t, open())); n != 0 {
			t.Errorf("refused secrets left %d keys behind", n)
		}
	})
}

// TestSealedRowBoundToDeployment (item 2): a sealed key copied into another
// deployment's database, whose instances have the very same secret, does not
// open there.
func TestSealedRowBoundToDeployment(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		// The other deployment: a database of the same kind.
		otherPath := filepath.Join(t.TempDir(), "other.db")
		other, err := sqlite.Open(t.Context(), otherPath)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()

		theirs := load(t, other, secretA, token.EdDSA)
		ours := load(t, open(), secretA, token.ES256)
		var copied store.SigningKey
		for _, sk := range storedKeys(t, other) {
			if sk.KID == theirs.Signing.KID {
				copied = sk
			}
		}
		insertRaw(t, open(), copied)
		ring, err := Load(t.Context(), open(), secretA, token.ES256)
		if err == nil && slices.Contains(kids(ring.Keys), theirs.Signing.KID) {
			t.Fatal("a key sealed for another deployment opened here")
		}
		if err == nil && ring.Signing.KID != ours.Signing.KID {
			t.Errorf("signing key changed from %s to %s", ours.Signing.KID, ring.Signing.KID)
		}
	})
}

// TestSealedFormat (item 2): what is stored names its format version and a
// memory-hard key derivation with a salt of its own, so a readable row cannot
// be attacked at the speed of a hash.
func TestSealedFormat(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		load(t, open(), secretA, token.ES256)
		for _, sk := range storedKeys(t, open()) {
			h, err := parseHeader(sk.Sealed)
			if err != nil {
				t.Fatalf("key %s: %v", sk.KID, err)
			}
			if h.version != formatVersion || h.memoryKiB < 19*1024 || h.time < 1 || len(h.salt) < 16 || bytes.Equal(h.salt, make([]byte, len(h.salt))) {
				t.Errorf("key %s: sealed with %+v", sk.KID, h)
			}
		}
	})
}

// TestUpgradeKeepsKeys (item 2): keys sealed in the first format, under a
// passphrase-like secret of the old rules, still open after the upgrade, are
// sealed again in the current format in place, and keep signing; the wrong
// secret on such a database is refused having written nothing.
func TestUpgradeKeepsKeys(t *testing.T) {
	const oldSecret = "correct horse battery staple, 2024!"
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		k, err := token.GenerateKey(token.ES256)
		if err != nil {
			t.Fatal(err)
		}
		v1, err := sealV1(k, oldSecret, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		insertRaw(t, open(), v1)
		issued, err := (&token.Issuer{Key: k, Issuer: testIssuer, TTL: time.Hour}).Issue("blnk_cid_x", testScopes, testAudience, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}

		if _, err := Load(t.Context(), open(), secretB, token.ES256); err == nil || !strings.Contains(err.Error(), k.KID) {
			t.Fatalf("the wrong secret on an old database: %v, want an error naming %s", err, k.KID)
		}
		if got := storedKeys(t, open()); len(got) != 1 || !bytes.Equal(got[0].Sealed, v1.Sealed) {
			t.Fatalf("the wrong secret changed the stored keys: %+v", got)
		}

		ring := load(t, open(), oldSecret, token.ES256)
		if ring.Signing.KID != k.KID {
			t.Fatalf("signing key after the upgrade = %s, want %s", ring.Signing.KID, k.KID)
		}
		v := newVerifier(t, ring.Keys)
		if _, err := v.Verify(issued.Token, time.Now()); err != nil {
			t.Errorf("a token signed before the upgrade: %v", err)
		}
		got := storedKeys(t, open())
		if len(got) != 1 || got[0].KID != k.KID || !got[0].CreatedAt.Equal(v1.CreatedAt) {
			t.Fatalf("stored keys after the upgrade: %+v", got)
		}
		if h, err := parseHeader(got[0].Sealed); err != nil || h.version != formatVersion {
			t.Errorf("the key was not sealed again in the current format: %+v %v", h, err)
		}
		// And it opens again, from the new format.
		if again := load(t, open(), oldSecret, token.ES256); again.Signing.KID != k.KID {
			t.Errorf("second start: signing key %s", again.Signing.KID)
		}
	})
}

// TestSessionKey (item 2): the key that binds MCP session IDs to clients was
// HMAC(secret, label), so any client holding a session ID (its own, which it
// knows the parts of) could guess a passphrase secret offline at the speed of
// a hash, without the database, past the Argon2id of the sealed keys. It is
// now a random key kept sealed in the keyring: the same for every instance on
// one database, unrelated to the secret, and made for old databases too.
func TestSessionKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		a := load(t, open(), secretA, token.ES256)
		b := load(t, open(), secretA, token.EdDSA)
		if len(a.SessionKey) < 32 || !bytes.Equal(a.SessionKey, b.SessionKey) {
			t.Fatalf("session keys of two instances on one database: %x and %x", a.SessionKey, b.SessionKey)
		}
		other, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "other.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if c := load(t, other, secretA, token.ES256); bytes.Equal(c.SessionKey, a.SessionKey) {
			t.Fatal("two databases with one secret have the same session key: it is derived from the secret")
		}
	})
}

// TestSessionKeyAfterUpgrade: a database upgraded from the first format gets
// a session key as well.
func TestSessionKeyAfterUpgrade(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		k, _ := token.GenerateKey(token.ES256)
		v1, err := sealV1(k, secretA, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		insertRaw(t, open(), v1)
		first := load(t, open(), secretA, token.ES256)
		again := load(t, open(), secretA, token.ES256)
		if len(first.SessionKey) < 32 || !bytes.Equal(first.SessionKey, again.SessionKey) {
			t.Fatalf("session keys after the upgrade: %x, then %x", first.SessionKey, again.SessionKey)
		}
	})
}
