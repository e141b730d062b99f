// Package keyring keeps the gateway's token signing keys in the store, sealed
// under the operator's secret, and opens them when an instance starts.
//
// What the store holds is bound to one database (its random deployment ID)
// and proved by a check value: an instance opens the check with its secret
// before it writes anything, in the transaction that writes, so an instance
// with the wrong secret fails having changed nothing, and the others keep
// starting. The sealed format is in format.go.
package keyring

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/token"
)

// Ring is the signing keys an instance opened.
type Ring struct {
	// Entries are every stored key that opened, newest first, with their
	// schedules (see schedule.go).
	Entries []Entry
	// Keys are the keys trusted when the ring was loaded (published, not
	// retired nor revoked), newest first: the verifier trusts them.
	Keys []*token.Key
	// Signing is the key of the configured algorithm that signed when the
	// ring was loaded (SigningAt tells for another time).
	Signing *token.Key
	// Skipped are stored keys that do not open although the secret is the
	// right one (damaged, or sealed elsewhere): never trusted, to be reported.
	Skipped []error
	// Resealed: the keys were sealed under a previous secret, and are now
	// sealed under the configured one.
	Resealed bool
	// SessionKey keys the MACs that bind MCP session IDs to clients.
	SessionKey []byte
	// WeakSecret: the secret would be refused on a new database (see
	// CheckSecret), but the keys are sealed under it; to be reported.
	WeakSecret error
}

// sessionKeySize is the length of the MCP session key.
const sessionKeySize = 32

// MinSecretLength is the shortest secret accepted.
const MinSecretLength = 32

// CheckSecret refuses a secret too short or with too little variety to have
// come from a random generator (32 spaces, a repeated word). Argon2id slows
// guessing of whatever passes, but nothing makes a guessable secret safe.
func CheckSecret(secret string) error {
	const advice = "generate one with: openssl rand -base64 32"
	if len(secret) < MinSecretLength {
		return fmt.Errorf("the secret must be at least %d characters (%s)", MinSecretLength, advice)
	}
	var seen [256]bool
	distinct := 0
	for i := range len(secret) {
		if !seen[secret[i]] {
			seen[secret[i]] = true
			distinct++
		}
	}
	if distinct < 10 || strings.TrimSpace(secret) == "" {
		return fmt.Errorf("the secret has %d different characters: too few for a random value (%s)", distinct, advice)
	}
	return nil
}

// Load opens the stored signing keys with secret and returns them with the
// newest key of alg, which signs. When secret does not open them but one of
// previous does (the operator is changing the secret: secret_previous), the
// keys are sealed again under secret; they do not change, so tokens issued
// before keep working. Whatever it must write — a first key of
// alg, the check value, keys of the first format sealed again — it writes in
// one UpdateKeyring, having first proved secret against what is stored, so
// instances starting together agree on one key and a wrong secret changes
// nothing.
func Load(ctx context.Context, st store.Store, secret, alg string, previous ...string) (*Ring, error) {
	return Open(ctx, st, Options{Secret: secret, Previous: previous, Algorithm: alg})
}

// Options say how to open a keyring.
type Options struct {
	Secret string
	// Previous are secrets the keys may still be sealed under (secret_previous).
	Previous  []string
	Algorithm string
	// Policy says when keys rotate; its zero value never rotates by itself.
	Policy Policy
	// Audit is who makes the changes Open writes; Actor defaults to "gateway".
	Audit store.Audit
	// Now is the time of the decisions; zero means the clock's.
	Now time.Time
}

// Open is Load with a rotation policy: it also writes what the policy asks
// for at now (a successor published, a transition audited).
func Open(ctx context.Context, st store.Store, o Options) (*Ring, error) {
	return apply(ctx, st, o, opAuto)
}

// Rotate publishes a successor to the signing key of o.Algorithm that
// activates after o.Policy.Lead (unless one is already published: it is
// kept), or with now, activates a new key at once and revokes every other
// key (the emergency). It returns the ring afterwards.
func Rotate(ctx context.Context, st store.Store, o Options, now bool) (*Ring, error) {
	op := opRotate
	if now {
		op = opRotateNow
	}
	return apply(ctx, st, o, op)
}

func apply(ctx context.Context, st store.Store, o Options, op operation) (*Ring, error) {
	alg, secret := o.Algorithm, o.Secret
	if !token.ValidAlgorithm(alg) {
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err := o.Policy.Check(); err != nil {
		return nil, err
	}
	kr, err := st.Keyring(ctx)
	if err != nil {
		return nil, err
	}
	previous := slices.DeleteFunc(slices.Clone(o.Previous), func(p string) bool { return p == "" || p == secret })
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Microsecond) // what every store keeps
	audit := o.Audit
	if audit.Actor == "" {
		audit.Actor = "gateway"
	}
	audit.Time = now
	ring, u, err := plan(kr, secret, previous, alg, o.Policy, op, now)
	if err != nil {
		return nil, err
	}
	if u.Empty() {
		return ring, nil
	}
	kr, err = st.UpdateKeyring(ctx, func(cur store.Keyring) (store.KeyringUpdate, error) {
		_, u, err := plan(cur, secret, previous, alg, o.Policy, op, now)
		u.Audit = audit
		return u, err
	})
	if err != nil {
		return nil, err
	}
	resealed := ring.Resealed
	ring, u, err = plan(kr, secret, previous, alg, o.Policy, opAuto, now)
	if err != nil {
		return nil, err
	}
	if !u.Empty() {
		return nil, errors.New("the keyring still needs writing after it was written")
	}
	ring.Resealed = resealed
	return ring, nil
}

// plan opens kr with secret, or failing that with one of the previous
// secrets, and says what must be written for alg to have a key and every
// value to be sealed under secret in the current format; it writes nothing.
func plan(kr store.Keyring, secret string, previous []string, alg string, p Policy, op operation, now time.Time) (*Ring, store.KeyringUpdate, error) {
	var u store.KeyringUpdate
	ring := &Ring{}
	var (
		s       *sealer // seals what is written, under secret
		opener  *sealer // opens what is stored, when it is in the current format
		openOld func(store.SigningKey) (*token.Key, error)
		err     error
	)
	legacy := kr.Check == nil // every stored key is in the first format, or there are none
	if legacy {
		if err := CheckSecret(secret); err != nil {
			if len(kr.Keys) == 0 {
				return nil, u, err
			}
			ring.WeakSecret = err
		}
		candidates := append([]string{secret}, previous...)
		openOld = func(sk store.SigningKey) (k *token.Key, err error) {
			for i, c := range candidates {
				if k, err = openV1(sk, c); err == nil {
					if i > 0 {
						ring.Resealed = true // opened by secret_previous only
					}
					return k, nil
				}
			}
			return nil, err
		}
	} else {
		if opener, err = sealerFor(secret, kr.DeploymentID, kr.Check); err == nil {
			err = opener.openCheck(kr.Check)
		}
		if err == nil {
			s = opener
			if weak := CheckSecret(secret); weak != nil {
				ring.WeakSecret = weak
			}
		} else {
			opener = nil
			for _, p := range previous {
				if o, err := sealerFor(p, kr.DeploymentID, kr.Check); err == nil && o.openCheck(kr.Check) == nil {
					opener = o
					break
				}
			}
			if opener == nil {
				also := ""
				if len(previous) > 0 {
					also = " nor with secret_previous"
				}
				return nil, u, fmt.Errorf("the configured secret does not open this database's signing keys%s (%s): every gateway instance on one database must use the same secret; nothing was written: %w", also, names(kr.Keys), err)
			}
			// A previous secret opens them: seal everything again under the
			// new one, which must be as strong as a new database asks.
			if err := CheckSecret(secret); err != nil {
				return nil, u, fmt.Errorf("the new secret: %w", err)
			}
			ring.Resealed = true
		}
	}
	if s == nil {
		if s, err = newSealer(secret, kr.DeploymentID); err != nil {
			return nil, u, err
		}
		if u.Check, err = s.sealCheck(); err != nil {
			return nil, u, err
		}
	}
	reseal := legacy || ring.Resealed
	for _, sk := range kr.Keys { // newest first
		var k *token.Key
		if legacy {
			k, err = openOld(sk)
		} else {
			k, err = opener.openKey(sk)
		}
		if err != nil {
			ring.Skipped = append(ring.Skipped, fmt.Errorf("signing key %s (%s) %w; it is not trusted", sk.KID, sk.Algorithm, err))
			continue
		}
		if reseal {
			resealed, err := s.sealKey(k, sk)
			if err != nil {
				return nil, u, err
			}
			u.Put = append(u.Put, resealed)
		}
		ring.Entries = append(ring.Entries, Entry{Key: k, CreatedAt: sk.CreatedAt, KeySchedule: sk.KeySchedule})
	}
	if !legacy && kr.SessionKey != nil {
		if ring.SessionKey, err = opener.open(kr.SessionKey, "mcp session key"); err != nil || len(ring.SessionKey) != sessionKeySize {
			ring.Skipped = append(ring.Skipped, fmt.Errorf("the MCP session key does not open (%v); replaced, so clients open new sessions", err))
			ring.SessionKey = nil
		} else if reseal {
			if u.SessionKey, err = s.seal(ring.SessionKey, "mcp session key"); err != nil {
				return nil, u, err
			}
		}
	}
	if ring.SessionKey == nil {
		// Random, not derived from the secret: a session ID is in every
		// client's hands, and must tell nothing about the secret.
		ring.SessionKey = make([]byte, sessionKeySize)
		if _, err := rand.Read(ring.SessionKey); err != nil {
			return nil, u, err
		}
		if u.SessionKey, err = s.seal(ring.SessionKey, "mcp session key"); err != nil {
			return nil, u, err
		}
	}
	if legacy && ring.Resealed && ring.WeakSecret != nil {
		// The upgrade also changes the secret: the new one must be as strong
		// as a new database asks, as on the current format.
		return nil, u, fmt.Errorf("the new secret: %w", ring.WeakSecret)
	}
	if legacy && len(kr.Keys) > 0 && len(ring.Entries) == 0 {
		// Nothing proves the secret: refuse rather than start a second,
		// unrelated set of keys that every other instance would fail on.
		return nil, u, fmt.Errorf("no signing key in the database opens with the configured secret (%s): every gateway instance on one database must use the same secret; nothing was written", names(kr.Keys))
	}
	if err := schedule(ring, &u, s, alg, p, op, now); err != nil {
		return nil, u, err
	}
	return ring, u, nil
}

// names lists stored keys for an error message: "ES256 key kid, …".
func names(keys []store.SigningKey) string {
	if len(keys) == 0 {
		return "no keys yet"
	}
	var b strings.Builder
	for i, sk := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s key %s", sk.Algorithm, sk.KID)
	}
	return b.String()
}
