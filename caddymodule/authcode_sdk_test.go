package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// tsAuthcodeResult is testdata/mcp-ts/authcode.mjs's JSON line.
type tsAuthcodeResult struct {
	Authorize map[string]string `json:"authorize"`
	Offered   []string          `json:"offered"`
	Callback  struct {
		State   string `json:"state"`
		Iss     string `json:"iss"`
		HasCode bool   `json:"hasCode"`
		To      string `json:"to"`
	} `json:"callback"`
	FirstRefreshToken bool     `json:"firstRefreshToken"`
	Scope             string   `json:"scope"`
	Tools             []string `json:"tools"`
	ToolsAfterRefresh []string `json:"toolsAfterRefresh"`
	Rotated           bool     `json:"rotated"`
	Error             string   `json:"error"`
	Requests          []struct {
		Method string            `json:"method"`
		URL    string            `json:"url"`
		Form   map[string]string `json:"form"`
		Status int               `json:"status"`
	} `json:"requests"`
}

// TestMCPTypeScriptSDKAuthorizationCode: the official MCP TypeScript SDK's
// OAuthClientProvider, with a pre-registered client's ID and secret, through
// the authorization-code flow (PKCE S256, resource, the person approving at
// the consent page), to an MCP Go SDK server; then the SDK refreshes its
// access token on a 401 (refresh_token grant, rotation) and carries on.
func TestMCPTypeScriptSDKAuthorizationCode(t *testing.T) {
	requireMCPTS(t)
	forEachStore(t, func(t *testing.T, kind string) {
		_, upSrv, _, _ := startSDKServer(t, "blnk-ts-authcode")
		upHost := strings.TrimPrefix(upSrv.URL, "http://")
		apiPort := freePort(t)
		g := startGateway(t, gatewayOptions{
			store:   kind,
			apiPort: apiPort,
			apiRoutes: `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
		}
	}` + sdkRoutes(upHost),
			appExtra: fmt.Sprintf("consent_url http://127.0.0.1:%d/admin/authorize", apiPort),
		})
		c, err := g.svc.Create(context.Background(), admin.CLI, admin.CreateParams{
			Name: "VS Code", Type: store.TypeOAuth, Scopes: []string{"mcp:read", "mcp:write"}, RedirectURIs: []string{"http://127.0.0.1/callback"},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, code := runMCPTSEnvJSON[tsAuthcodeResult](t, "authcode.mjs",
			"MCP_ENDPOINT="+g.apiURL+"/mcp", "MCP_CLIENT_ID="+c.Client.ID, "MCP_CLIENT_SECRET="+c.Secret, "MASTER_KEY="+testMasterKey)
		if code != 0 || out.Error != "" {
			t.Fatalf("authcode.mjs exit %d: %s\n%+v", code, out.Error, out)
		}
		if out.Authorize["response_type"] != "code" || out.Authorize["code_challenge_method"] != "S256" || out.Authorize["resource"] != g.apiURL+"/mcp" {
			t.Errorf("the SDK's authorization request: %v", out.Authorize)
		}
		if out.Callback.State != "ts-state" || out.Callback.Iss != g.authURL || !out.Callback.HasCode {
			t.Errorf("authorization response: %+v", out.Callback)
		}
		if !out.FirstRefreshToken || !out.Rotated || len(out.Tools) == 0 || !slices.Equal(out.Tools, out.ToolsAfterRefresh) {
			t.Errorf("tokens and tools: %+v", out)
		}
		var grants []string
		for _, r := range out.Requests {
			if r.URL == g.authURL+"/oauth/token" {
				grants = append(grants, fmt.Sprintf("%s %d", r.Form["grant_type"], r.Status))
				if r.Form["resource"] != g.apiURL+"/mcp" {
					t.Errorf("token request without the resource: %v", r.Form)
				}
			}
		}
		if !slices.Equal(grants, []string{"authorization_code 200", "refresh_token 200"}) {
			t.Errorf("token requests %v, want the code exchange then one refresh", grants)
		}
	})
}

// runMCPTSEnvJSON runs a script of testdata/mcp-ts with env added and
// decodes the JSON line it prints last.
func runMCPTSEnvJSON[T any](t *testing.T, script string, env ...string) (T, int) {
	t.Helper()
	var out T
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = mcpTSDir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v\nstderr: %s", script, err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("%s stderr: %s", script, s)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("%s (exit %d) printed no JSON result: %v\nstdout: %s\nstderr: %s", script, code, err, stdout.String(), stderr.String())
	}
	return out, code
}

// TestMCPGoSDKAuthorizationCode: the official MCP Go SDK's
// auth.AuthorizationCodeHandler with a pre-registered client (bound to the
// gateway's issuer), through the authorization-code flow to an MCP Go SDK
// server. Its fetcher is the cookie-keeping browser that signs in and
// approves; the SDK checks state and the RFC 9207 iss (advertised in the
// metadata) itself.
func TestMCPGoSDKAuthorizationCode(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		_, upSrv, _, _ := startSDKServer(t, "blnk-go-authcode")
		upHost := strings.TrimPrefix(upSrv.URL, "http://")
		apiPort := freePort(t)
		g := startGateway(t, gatewayOptions{
			store:   kind,
			apiPort: apiPort,
			apiRoutes: `
	handle_path /admin/* {
		blnk_admin {
			master_key ` + testMasterKey + `
		}
	}` + sdkRoutes(upHost),
			appExtra: fmt.Sprintf("consent_url http://127.0.0.1:%d/admin/authorize", apiPort),
		})
		c, cfg := g.oauthClient("mcp:read", "mcp:write")
		b := newBrowser(t, g)
		fetches := 0
		oh, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			PreregisteredClient: &oauthex.ClientCredentials{
				ClientID: c.Client.ID, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: c.Secret}, Issuer: g.authURL,
			},
			RedirectURL: cfg.RedirectURL,
			AuthorizationCodeFetcher: func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
				fetches++
				q := b.authorize(args.URL, true)
				return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		transport := &mcp.StreamableClientTransport{Endpoint: g.apiURL + "/mcp", OAuthHandler: oh}
		client := mcp.NewClient(&mcp.Implementation{Name: "blnk-go-sdk-authcode", Version: "0.0.1"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := client.Connect(ctx, transport, nil)
		if err != nil {
			t.Fatalf("connect through the authorization-code flow: %v", err)
		}
		defer cs.Close()
		res, err := cs.ListTools(ctx, nil)
		if err != nil || len(res.Tools) == 0 {
			t.Fatalf("tools/list: %v", err)
		}
		if fetches != 1 {
			t.Errorf("the browser step ran %d times, want 1", fetches)
		}
		ts, err := oh.TokenSource(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("the SDK's token: %v, refresh token %q", err, tok.RefreshToken)
		}
		grants, err := g.store.ListGrants(ctx, c.Client.ID)
		if err != nil || len(grants) != 1 || grants[0].LastUsedAt == nil {
			t.Errorf("grants after the SDK's exchange: %+v %v", grants, err)
		}
	})
}
