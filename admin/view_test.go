package admin_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

var viewFields = []string{
	"client_id", "created_at", "expires_at", "last_used_at", "name", "rate_limit", "redirect_uris",
	"revoked_at", "scopes", "secret_hint", "status", "type",
}

// oauthViewFields: an OAuth client also says how it authenticates.
var oauthViewFields = append(slices.Clone(viewFields), "token_endpoint_auth_method")

func toJSON(t *testing.T, v any) (string, map[string]any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return string(b), m
}

func wantKeys(t *testing.T, m map[string]any, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
		t.Errorf("JSON fields %v, want exactly %v", got, want)
	}
}

func TestViewJSON(t *testing.T) { forEachStore(t, testViewJSON) }

func testViewJSON(t *testing.T, f *fixture) {
	ctx := context.Background()
	now := f.clock.Now()
	oauth := f.create(t, admin.CreateParams{Name: "billing", Scopes: []string{"b:write", "a:read"}})
	stored, err := f.svc.Get(ctx, oauth.Client.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*store.Client{oauth.Client, stored} {
		raw, m := toJSON(t, admin.View(c, now))
		wantKeys(t, m, oauthViewFields)
		if strings.Contains(raw, oauth.Secret) || strings.Contains(raw, oauth.Secret[len(credential.SecretPrefix):len(oauth.Secret)-6]) {
			t.Errorf("View holds the secret: %s", raw)
		}
		if m["client_id"] != c.ID || m["name"] != "billing" || m["type"] != "oauth" || m["status"] != "active" {
			t.Errorf("View = %s", raw)
		}
		if m["secret_hint"] != credential.Hint(oauth.Secret) {
			t.Errorf("secret_hint = %v, want %q", m["secret_hint"], credential.Hint(oauth.Secret))
		}
		if s, ok := m["scopes"].([]any); !ok || len(s) != 2 || s[0] != "a:read" || s[1] != "b:write" {
			t.Errorf("scopes = %#v", m["scopes"])
		}
		for _, name := range []string{"expires_at", "revoked_at", "last_used_at"} {
			if v, ok := m[name]; !ok || v != nil {
				t.Errorf("%s = %#v, want null", name, v)
			}
		}
		if !strings.Contains(raw, `"expires_at":null`) {
			t.Errorf("a never-expiring client does not say expires_at null: %s", raw)
		}
		created, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
		if err != nil || !created.Equal(c.CreatedAt) {
			t.Errorf("created_at = %v (%v), want %v", m["created_at"], err, c.CreatedAt)
		}
	}

	// Timestamps, when set, are RFC 3339 strings; status follows them.
	exp := now.Add(time.Hour)
	key := f.create(t, admin.CreateParams{Type: store.TypeAPIKey, ExpiresAt: &exp})
	revoked, err := f.svc.Revoke(ctx, admin.CLI, key.Client.ID)
	if err != nil {
		t.Fatal(err)
	}
	used := now.Add(time.Minute).UTC().Truncate(time.Microsecond)
	if err := f.st.TouchLastUsed(ctx, map[string]time.Time{key.Client.ID: used}); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(ctx, key.Client.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, m := toJSON(t, admin.View(got, now))
	wantKeys(t, m, viewFields)
	if strings.Contains(raw, key.Secret) || strings.Contains(raw, key.Secret[len(credential.APIKeyPrefix)+22:len(key.Secret)-6]) {
		t.Errorf("View holds the API key: %s", raw)
	}
	if m["type"] != "api_key" || m["status"] != "revoked" {
		t.Errorf("View = %s", raw)
	}
	for name, want := range map[string]time.Time{"expires_at": *key.Client.ExpiresAt, "revoked_at": *revoked.RevokedAt, "last_used_at": used} {
		s, _ := m[name].(string)
		if ts, err := time.Parse(time.RFC3339Nano, s); err != nil || !ts.Equal(want) {
			t.Errorf("%s = %#v, want %v", name, m[name], want)
		}
	}

	// Expired (not revoked) at a later time.
	exp2 := now.Add(time.Minute)
	short := f.create(t, admin.CreateParams{ExpiresAt: &exp2})
	if _, m := toJSON(t, admin.View(short.Client, now.Add(2*time.Minute))); m["status"] != "expired" {
		t.Errorf("status = %v, want expired", m["status"])
	}
	if _, m := toJSON(t, admin.View(short.Client, exp2)); m["status"] != "expired" {
		t.Errorf("status at expires_at = %v, want expired", m["status"])
	}
}

func TestViewCreatedJSON(t *testing.T) { forEachStore(t, testViewCreatedJSON) }

func testViewCreatedJSON(t *testing.T, f *fixture) {
	now := f.clock.Now()
	oauth := f.create(t, admin.CreateParams{})
	raw, m := toJSON(t, admin.ViewCreated(oauth, now))
	wantKeys(t, m, append(slices.Clone(oauthViewFields), "client_secret"))
	if m["client_secret"] != oauth.Secret {
		t.Errorf("client_secret = %v, want the secret", m["client_secret"])
	}
	if strings.Count(raw, oauth.Secret) != 1 {
		t.Errorf("the secret appears %d times: %s", strings.Count(raw, oauth.Secret), raw)
	}

	key := f.create(t, admin.CreateParams{Type: store.TypeAPIKey})
	raw, m = toJSON(t, admin.ViewCreated(key, now))
	wantKeys(t, m, append(slices.Clone(viewFields), "api_key"))
	if m["api_key"] != key.Secret {
		t.Errorf("api_key = %v, want the key", m["api_key"])
	}
	if strings.Count(raw, key.Secret) != 1 {
		t.Errorf("the key appears %d times: %s", strings.Count(raw, key.Secret), raw)
	}
	if m["client_id"] != key.Client.ID || m["type"] != "api_key" {
		t.Errorf("ViewCreated = %s", raw)
	}
}

// TestViewEmptyScopes: scopes render as [] even when a record has none.
func TestViewEmptyScopes(t *testing.T) {
	c := &store.Client{ID: credential.NewClientID(), Name: "n", Type: store.TypeOAuth, Scopes: scope.Set{}, CreatedAt: time.Now()}
	raw, m := toJSON(t, admin.View(c, time.Now()))
	wantKeys(t, m, oauthViewFields)
	if !strings.Contains(raw, `"scopes":[]`) {
		t.Errorf("scopes not [] in %s", raw)
	}
}
