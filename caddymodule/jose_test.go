package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// joseDir is a Node project whose only dependency is jose, pinned by its
// package-lock.json; .ci/run installs it with npm ci, and the test does when
// node_modules is missing.
const joseDir = "testdata/jose"

var (
	joseInstall    sync.Once
	joseInstallErr error
)

// requireJose makes sure node, npm and jose are there. Without node or npm
// the test fails on CI and is skipped elsewhere.
func requireJose(t *testing.T) {
	t.Helper()
	needNode(t, "the jose verifier test")
	joseInstall.Do(func() {
		if _, err := os.Stat(filepath.Join(joseDir, "node_modules", "jose", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = joseDir
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			joseInstallErr = errors.New("npm ci in " + joseDir + ": " + err.Error() + "\n" + string(out))
		}
	})
	if joseInstallErr != nil {
		t.Fatal(joseInstallErr)
	}
}

// TestJoseVerifiesThroughRotation: jose (createRemoteJWKSet + jwtVerify),
// caching the JWKS for the max-age the gateway states and refetching it no
// sooner on an unknown kid, validates every token through two rotations,
// including one issued before them: each key was in the JWKS longer than
// the max-age before it signed, and a replaced key stays in it.
func TestJoseVerifiesThroughRotation(t *testing.T) {
	requireJose(t)
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind, appExtra: "signing_key_rotation 3s\nsigning_key_publish_lead 1500ms\njwks_max_age 1s"})
		c := g.create("jose", store.TypeOAuth, []string{"mcp:read"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "verify.mjs")
		cmd.Dir = joseDir
		cmd.Env = append(os.Environ(),
			"JWKS_URL="+g.authURL+"/.well-known/jwks.json", "TOKEN_URL="+g.authURL+"/oauth/token", "ISSUER="+g.authURL,
			"CLIENT_ID="+c.Client.ID, "CLIENT_SECRET="+c.Secret, "DURATION_MS=7000")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("node verify.mjs: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var res struct {
			OK, Failed int
			Kids       []string
			Errors     []string
			MaxAgeMS   int `json:"max_age_ms"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("verify.mjs output %q: %v", out, err)
		}
		t.Logf("%s: jose verified %d tokens, %d failed, %d keys, JWKS max-age %dms", kind, res.OK, res.Failed, len(res.Kids), res.MaxAgeMS)
		if res.Failed != 0 || res.OK == 0 {
			t.Errorf("jose: %d verified, %d failed: %v", res.OK, res.Failed, res.Errors)
		}
		if len(res.Kids) < 3 || res.MaxAgeMS != 1000 {
			t.Errorf("jose saw %d keys (want at least 3 over two rotations), max-age %dms (want 1000)", len(res.Kids), res.MaxAgeMS)
		}
	})
}
