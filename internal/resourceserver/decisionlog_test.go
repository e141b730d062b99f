package resourceserver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blnkfinance/blnk-auth-gateway/internal/mcpscope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/resourceserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/scope"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// TestDecisionLog: one entry per decision, saying who, where, what and why,
// never with a credential in it.
func TestDecisionLog(t *testing.T) {
	f := newFixture(t)
	core, logs := observer.New(zapcore.DebugLevel)
	mcp, err := resourceserver.New(resourceserver.Config{
		MountPath: "/mcp",
		MCP:       &resourceserver.MCP{Policy: mcpscope.DefaultPolicy().WithTool("transfer_funds", scope.MustParse("ledgers:write"))},
		Decisions: zap.New(core),
	}, f.shared)
	if err != nil {
		t.Fatal(err)
	}
	blnk, err := resourceserver.New(resourceserver.Config{MountPath: "/blnk", Blnk: &resourceserver.Blnk{}, Decisions: zap.New(core)}, f.shared)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := f.client(t, store.TypeOAuth, "mcp:write", "ledgers:read")
	tok := f.token(t, id, "mcp:write ledgers:read", issuer)
	keyID, key := f.client(t, store.TypeAPIKey, "ledgers:read")
	call := func(tool string) request {
		return request{method: "POST", target: "/mcp", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `"}}`,
			header: map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}}
	}
	f.serve(mcp, &upstream{}, call("get_balance"))
	f.serve(mcp, &upstream{}, call("transfer_funds"))
	f.serve(mcp, &upstream{}, request{target: "/mcp", header: map[string]string{"Authorization": "Bearer not-a-token"}})
	f.serve(blnk, &upstream{}, request{target: "/ledgers", header: map[string]string{"X-Blnk-Key": key}})
	f.serve(blnk, &upstream{}, request{method: "POST", target: "/ledgers", header: map[string]string{"X-Blnk-Key": key}})

	entries := logs.All()
	if len(entries) != 5 {
		t.Fatalf("%d entries, want one per decision (5)", len(entries))
	}
	want := []map[string]any{
		{"outcome": "allowed", "client_id": id, "mcp_method": "tools/call", "mcp_name": "get_balance", "route": "/mcp/"},
		{"outcome": "insufficient_scope", "client_id": id, "mcp_name": "transfer_funds", "status": int64(403)},
		{"outcome": "invalid_token", "status": int64(401)},
		{"outcome": "allowed", "client_id": keyID, "credential": "api_key", "blnk_scope": "ledgers:read"},
		{"outcome": "insufficient_scope", "client_id": keyID, "path": "/ledgers"},
	}
	for i, e := range entries {
		fields := e.ContextMap()
		if e.Message != "decision" || e.Level != zapcore.DebugLevel {
			t.Errorf("entry %d: %s at %s", i, e.Message, e.Level)
		}
		for k, v := range want[i] {
			if fmt.Sprint(fields[k]) != fmt.Sprint(v) {
				t.Errorf("entry %d: %s = %v, want %v (%v)", i, k, fields[k], v, fields)
			}
		}
		if i < 2 && fields["jti"] == nil {
			t.Errorf("entry %d has no jti: %v", i, fields)
		}
		if s := fmt.Sprint(fields); strings.Contains(s, tok) || strings.Contains(s, key) || strings.Contains(s, "not-a-token") {
			t.Errorf("entry %d holds a credential: %s", i, s)
		}
	}
}

// TestDecisionInSpan: a traced request's span carries the decision and the
// client ID (never a credential).
func TestDecisionInSpan(t *testing.T) {
	f := newFixture(t)
	rt := f.route(t, resourceserver.Config{Required: scope.MustParse("mcp:read")})
	id, _ := f.client(t, store.TypeOAuth, "mcp:read")
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	for _, tc := range []struct {
		authz, outcome, client string
	}{
		{"Bearer " + f.token(t, id, "mcp:read", issuer), "allowed", id},
		{"Bearer x.y.z", "invalid_token", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", tc.authz)
		ctx, span := tracer.Start(r.Context(), "request")
		_ = rt.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx), &upstream{})
		span.End()
		ended := rec.Ended()
		attrs := map[string]string{}
		for _, a := range ended[len(ended)-1].Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["blnk_auth.outcome"] != tc.outcome || attrs["blnk_auth.client_id"] != tc.client {
			t.Errorf("span attributes %v, want outcome %s, client %q", attrs, tc.outcome, tc.client)
		}
		if len(ended[len(ended)-1].Events()) != 1 {
			t.Errorf("%d events, want the decision", len(ended[len(ended)-1].Events()))
		}
	}
}
