package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/health"
)

func TestProbes(t *testing.T) {
	down := func(context.Context) error { return errors.New("the database does not answer") }
	up := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name    string
		method  string
		serve   func(http.ResponseWriter, *http.Request)
		status  int
		want    string // the status field
		noStore bool
	}{
		{"live", "GET", health.Live, 200, "live", true},
		{"live HEAD", "HEAD", health.Live, 200, "", true},
		{"ready", "GET", func(w http.ResponseWriter, r *http.Request) { health.Ready(w, r, up) }, 200, "ready", true},
		{"not ready", "GET", func(w http.ResponseWriter, r *http.Request) { health.Ready(w, r, down) }, 503, "not_ready", true},
		{"POST", "POST", func(w http.ResponseWriter, r *http.Request) { health.Ready(w, r, up) }, 405, "error", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.serve(w, httptest.NewRequest(tc.method, "/", nil))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Error("a probe answer may be cached")
			}
			if tc.method == "HEAD" {
				if w.Body.Len() != 0 {
					t.Error("HEAD with a body")
				}
				return
			}
			var body struct{ Status, Reason string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Status != tc.want {
				t.Errorf("status field %q, want %q", body.Status, tc.want)
			}
			if tc.status == 503 && (body.Reason == "" || w.Header().Get("Retry-After") == "") {
				t.Errorf("503 without a reason or Retry-After: %q", w.Body)
			}
		})
	}
}
