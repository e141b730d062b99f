package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

const testJWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1 «é»"}]}`

// testClientKeys: a private_key_jwt client's method and keys round-trip
// through create, get, list, update, roll and revoke; a secret client's
// method defaults to client_secret_basic and has no keys.
func testClientKeys(t *testing.T, s store.Store) {
	inline := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	inline.AuthMethod, inline.Keys = store.AuthPrivateKeyJWT, store.ClientKeys{JWKS: testJWKS}
	remote := NewClient(credential.NewClientID(), store.TypeOAuth, Base.Add(time.Second))
	remote.AuthMethod, remote.Keys = store.AuthPrivateKeyJWT, store.ClientKeys{JWKSURI: "https://keys.example.com/jwks.json?a=1&b=2"}
	post := NewClient(credential.NewClientID(), store.TypeOAuth, Base.Add(2*time.Second))
	post.AuthMethod = store.AuthSecretPost
	plain := NewClient(credential.NewClientID(), store.TypeOAuth, Base.Add(3*time.Second))
	mustCreate(t, s, inline, remote, post, plain)
	for _, c := range []*store.Client{inline, remote, post} {
		CheckClient(t, mustGet(t, s, c.ID), c)
	}
	if got := mustGet(t, s, plain.ID); got.AuthMethod != store.AuthSecretBasic || !got.Keys.Empty() {
		t.Errorf("a client created without a method: %q %+v, want client_secret_basic and no keys", got.AuthMethod, got.Keys)
	}
	list, err := s.ListClients(ctx(t), store.ListFilter{Limit: 10}, Base)
	if err != nil || len(list) != 4 {
		t.Fatalf("ListClients: %d clients, %v", len(list), err)
	}
	CheckClient(t, list[3], inline)
	CheckClient(t, list[2], remote)

	// Replacing the keys: inline for inline, a URL for inline; other
	// changes leave them.
	want := cloneClient(inline)
	n := 0
	update := func(what string, u store.ClientUpdate) {
		t.Helper()
		n++
		got, err := s.UpdateClient(ctx(t), inline.ID, u, auditN(n), nil)
		if err != nil {
			t.Fatalf("UpdateClient(%s): %v", what, err)
		}
		CheckClient(t, got, want)
		CheckClient(t, mustGet(t, s, inline.ID), want)
	}
	name := "renamed"
	want.Name = name
	update("name", store.ClientUpdate{Name: &name})
	k := store.ClientKeys{JWKS: `{"keys":[]}`}
	want.Keys = k
	update("other inline keys", store.ClientUpdate{Keys: &k})
	k2 := store.ClientKeys{JWKSURI: "https://other.example.com/jwks"}
	want.Keys = k2
	update("a jwks_uri", store.ClientUpdate{Keys: &k2})

	revoked, err := s.RevokeClient(ctx(t), inline.ID, Base.Add(time.Hour), auditN(50), nil)
	if err != nil {
		t.Fatal(err)
	}
	want.RevokedAt = ptr(Base.Add(time.Hour))
	CheckClient(t, revoked, want)
}

// testClientKeysRefused: a method the schema does not know is refused with
// nothing written.
func testClientKeysRefused(t *testing.T, s store.Store) {
	c := NewClient(credential.NewClientID(), store.TypeOAuth, Base)
	c.AuthMethod = "client_secret_jwt"
	if err := s.CreateClient(ctx(t), c, testAudit); err == nil {
		t.Error("CreateClient with method client_secret_jwt: no error")
	}
	if _, err := s.GetClient(ctx(t), c.ID); err != store.ErrNotFound {
		t.Errorf("after a refused CreateClient: GetClient = %v, want ErrNotFound", err)
	}
	if evs := allAudit(t, s, c.ID); len(evs) != 0 {
		t.Errorf("a refused CreateClient left %d audit events", len(evs))
	}
}

// testAssertions: a (client, jti) is fresh once until it expires; the same
// jti of another client is another assertion; an expired record is pruned
// and no longer counts.
func testAssertions(t *testing.T, s store.Store) {
	a, b := credential.NewClientID(), credential.NewClientID()
	use := func(client, jti string, exp, now time.Time, want bool) {
		t.Helper()
		fresh, err := s.UseAssertion(ctx(t), client, jti, exp, now)
		if err != nil {
			t.Fatalf("UseAssertion(%s, %q): %v", client, jti, err)
		}
		if fresh != want {
			t.Errorf("UseAssertion(%s, %q, exp %s, now %s) = %v, want %v", client, jti, exp.Format(time.TimeOnly), now.Format(time.TimeOnly), fresh, want)
		}
	}
	exp := Base.Add(5 * time.Minute)
	use(a, "jti-1", exp, Base, true)
	use(a, "jti-1", exp, Base.Add(time.Second), false)
	use(a, "jti-1", exp.Add(time.Hour), Base.Add(4*time.Minute), false) // a later exp changes nothing
	use(b, "jti-1", exp, Base, true)
	use(a, "JTI-1", exp, Base, true) // jti is case-sensitive
	use(a, "jti-2 «é» '\"", exp, Base, true)
	use(a, "jti-2 «é» '\"", exp, Base, false)
	// Microsecond precision: recorded until exp, a replay a microsecond before it.
	use(b, "jti-1", exp, exp.Add(-time.Microsecond), false)
	// At its expiry the record is pruned: the jti is fresh again.
	use(a, "jti-1", exp.Add(5*time.Minute), exp, true)
	use(a, "jti-1", exp.Add(5*time.Minute), exp.Add(time.Second), false)
}

// testAssertionsConcurrent: of many concurrent uses of one jti, exactly one
// is fresh.
func testAssertionsConcurrent(t *testing.T, s store.Store) {
	const n = 16
	id := credential.NewClientID()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		errs  []error
	)
	for range n {
		wg.Go(func() {
			ok, err := s.UseAssertion(ctx(t), id, "same", Base.Add(time.Minute), Base)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				fresh++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("UseAssertion: %v", errs)
	}
	if fresh != 1 {
		t.Errorf("%d of %d concurrent uses of one jti were fresh, want 1", fresh, n)
	}
}
