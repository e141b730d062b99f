package admin_test

import (
	"encoding/json"
	"testing"
)

// TestHandlerRateLimit: a client's rate_limit through the admin API: set on
// create, shown in every view (null when none), changed and removed with
// PATCH, and refused with a clear 400 when malformed, with nothing written.
func TestHandlerRateLimit(t *testing.T) { forEachStore(t, testHandlerRateLimit) }

func testHandlerRateLimit(t *testing.T, f *fixture) {
	a := newAPI(t, f)
	limitOf := func(r response) any {
		t.Helper()
		v, ok := r.body["rate_limit"]
		if !ok {
			t.Fatalf("no rate_limit in %s", r.raw)
		}
		return v
	}
	asJSON := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	created := a.must(a.do("POST", "/clients", "master", `{"name":"limited","scopes":["mcp:read"],"rate_limit":{"requests":100,"per":"1s","burst":200}}`), 201, "create with a rate limit")
	if got := asJSON(limitOf(created)); got != `{"burst":200,"per":"1s","requests":100}` {
		t.Errorf("created rate_limit = %s", got)
	}
	id := created.body["client_id"].(string)
	if got := asJSON(limitOf(a.must(a.do("GET", "/clients/"+id, "master", ""), 200, "get"))); got != `{"burst":200,"per":"1s","requests":100}` {
		t.Errorf("get rate_limit = %s", got)
	}
	list := a.must(a.do("GET", "/clients", "master", ""), 200, "list")
	if got := asJSON(list.body["clients"].([]any)[0].(map[string]any)["rate_limit"]); got != `{"burst":200,"per":"1s","requests":100}` {
		t.Errorf("listed rate_limit = %s", got)
	}

	plain := a.must(a.do("POST", "/clients", "master", `{"name":"plain","scopes":["mcp:read"]}`), 201, "create without")
	if v := limitOf(plain); v != nil {
		t.Errorf("rate_limit of a client created without one = %v, want null", v)
	}
	// Burst defaults to requests.
	upd := a.must(a.do("PATCH", "/clients/"+plain.body["client_id"].(string), "master", `{"rate_limit":{"requests":5,"per":"1m"}}`), 200, "set with PATCH")
	if got := asJSON(limitOf(upd)); got != `{"burst":5,"per":"1m","requests":5}` {
		t.Errorf("patched rate_limit = %s", got)
	}
	upd = a.must(a.do("PATCH", "/clients/"+id, "master", `{"name":"renamed"}`), 200, "rename")
	if got := asJSON(limitOf(upd)); got != `{"burst":200,"per":"1s","requests":100}` {
		t.Errorf("a rename changed rate_limit to %s", got)
	}
	upd = a.must(a.do("PATCH", "/clients/"+id, "master", `{"rate_limit":null}`), 200, "remove")
	if v := limitOf(upd); v != nil {
		t.Errorf("rate_limit after removing = %v, want null", v)
	}

	for body, want := range map[string]string{
		`{"rate_limit":{"requests":0,"per":"1s"}}`:                 "rate_limit: requests must be between 1 and 1000000",
		`{"rate_limit":{"requests":10,"per":"2s"}}`:                `rate_limit: must be {"requests": N, "per": "1s", "1m" or "1h", "burst": B} or null`,
		`{"rate_limit":{"requests":10}}`:                           `rate_limit: must be {"requests": N, "per": "1s", "1m" or "1h", "burst": B} or null`,
		`{"rate_limit":{"requests":10,"per":"1s","burst":0}}`:      "rate_limit: burst must be at least 1",
		`{"rate_limit":{"requests":10,"per":"1s","extra":1}}`:      `rate_limit: must be {"requests": N, "per": "1s", "1m" or "1h", "burst": B} or null`,
		`{"rate_limit":"100/s"}`:                                   `rate_limit: must be {"requests": N, "per": "1s", "1m" or "1h", "burst": B} or null`,
		`{"rate_limit":{"requests":2000000,"per":"1h"}}`:           "rate_limit: requests must be between 1 and 1000000",
		`{"rate_limit":{"requests":1,"per":"1h","burst":2000000}}`: "rate_limit: burst must be between 1 and 1000000",
	} {
		r := a.do("PATCH", "/clients/"+id, "master", body)
		if r.status != 400 || r.body["error"] != "invalid_request" || r.body["error_description"] != want {
			t.Errorf("PATCH %s: %d %s, want 400 %q", body, r.status, r.raw, want)
		}
	}
	if v := limitOf(a.must(a.do("GET", "/clients/"+id, "master", ""), 200, "get after refusals")); v != nil {
		t.Errorf("a refused PATCH wrote rate_limit %v", v)
	}
}
