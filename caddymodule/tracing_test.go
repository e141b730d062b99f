package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it keeps the
// attributes of every span exported to it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []map[string]string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				attrs := map[string]string{"name": s.Name}
				for _, a := range s.Attributes {
					attrs[a.Key] = a.Value.GetStringValue()
				}
				o.spans = append(o.spans, attrs)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write([]byte{})
}

// TestTracingSpanAttributes: with Caddy's tracing directive on, the
// request's span carries blnk_auth's decision and the client ID, exported
// through OTLP like any span of Caddy's, and no credential.
func TestTracingSpanAttributes(t *testing.T) {
	rec := &otlpReceiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	g := startGateway(t, gatewayOptions{apiRoutes: `
	tracing {
		span gateway
	}
	blnk_auth mcp:read
	reverse_proxy {upstream}`})
	c := g.create("traced", store.TypeOAuth, []string{"mcp:read"}, nil)
	tok := g.token(c.Client.ID, c.Secret, nil)
	mustStatus(t, g.call("/mcp", bearer(tok)...), 200, "traced call")

	var found map[string]string
	eventually(t, 10*time.Second, "the span exported", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, s := range rec.spans {
			if s["name"] == "gateway" && s["blnk_auth.client_id"] != "" {
				found = s
				return true
			}
		}
		return false
	})
	if found["blnk_auth.client_id"] != c.Client.ID || found["blnk_auth.outcome"] != "allowed" {
		t.Fatalf("span attributes %v", found)
	}
	for k, v := range found {
		if v == tok || v == "Bearer "+tok || v == c.Secret {
			t.Fatalf("span attribute %s holds a credential", k)
		}
	}
}
