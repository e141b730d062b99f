package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// logFilter is the filter README.md documents for the default log and every
// access log (and Caddyfile.example uses): Caddy redacts Authorization in the
// request headers it logs, but not X-Blnk-Key.
const logFilter = `format filter {
	request>headers>X-Blnk-Key delete
}`

// normalizeCaddyfile drops comments and collapses white space, so that
// config text can be compared whatever its layout.
func normalizeCaddyfile(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		out = append(out, strings.Fields(line)...)
	}
	return strings.Join(out, " ")
}

// globalOptions returns a Caddyfile's global options block: from its first
// line "{" to the next line "}".
func globalOptions(t *testing.T, caddyfile string) string {
	t.Helper()
	start := strings.Index(caddyfile, "\n{\n")
	if start < 0 {
		t.Fatal("no global options block")
	}
	end := strings.Index(caddyfile[start:], "\n}\n")
	if end < 0 {
		t.Fatal("global options block not closed")
	}
	return caddyfile[start+1 : start+end+3]
}

// TestLogFilterDocumented: README.md and Caddyfile.example filter X-Blnk-Key
// out of the default log as TestKeysNotInDebugLogs does.
func TestLogFilterDocumented(t *testing.T) {
	want := normalizeCaddyfile("log {\n" + logFilter + "\n}")
	example, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := normalizeCaddyfile(globalOptions(t, string(example))); !strings.Contains(got, want) {
		t.Errorf("Caddyfile.example's global options lack %q:\n%s", want, got)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, block := range caddyfileBlocks(string(readme)) {
		if normalizeCaddyfile(block) == "{ "+want+" }" {
			found = true
		}
	}
	if !found {
		t.Errorf("README.md has no caddyfile block of global options that is exactly { %s }", want)
	}
}

// caddyfileBlocks returns the ```caddyfile code blocks of a Markdown text.
func caddyfileBlocks(md string) []string {
	var blocks []string
	for {
		i := strings.Index(md, "```caddyfile\n")
		if i < 0 {
			return blocks
		}
		md = md[i+len("```caddyfile\n"):]
		j := strings.Index(md, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, md[:j])
		md = md[j:]
	}
}

// randomKey is a key as an operator makes one (openssl rand -base64 32):
// it contains + / =, so its escaped and encoded forms differ from it.
func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 33)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	// Force the characters that escaping changes, whatever the random bytes.
	return base64.StdEncoding.EncodeToString(b) + "+/=="
}

// leakForms are the shapes in which a key could appear in a log line.
func leakForms(key string) []string {
	j, _ := json.Marshal(key)
	return []string{
		key,
		string(j[1 : len(j)-1]),
		base64.StdEncoding.EncodeToString([]byte(key)),
		base64.RawURLEncoding.EncodeToString([]byte(key)),
		url.QueryEscape(key),
		url.PathEscape(key),
		strings.TrimRight(key, "="), // a prefix, in case a line truncates it
	}
}

// debugLog is the global options that put the default log at DEBUG, to file,
// with the documented filter; both ways of raising the level are covered.
func debugLog(kind, file string) string {
	filter := "\t" + strings.ReplaceAll(logFilter, "\n", "\n\t")
	if kind == kindSQLite {
		return fmt.Sprintf("debug\nlog {\n\toutput file %s\n%s\n}", file, filter)
	}
	return fmt.Sprintf("log {\n\toutput file %s\n\tlevel DEBUG\n%s\n}", file, filter)
}

// TestKeysNotInDebugLogs runs the gateway with Caddy's default logger at
// DEBUG and access logs on, both configured as README.md says, sends
// requests through a blnk_api route (which adds the gateway's upstream key)
// and the admin API (with the master key in X-Blnk-Key), some of them
// failing, and scans every log line for the keys.
func TestKeysNotInDebugLogs(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dir := t.TempDir()
		logFile := filepath.Join(dir, "caddy.log")
		accessLog := filepath.Join(dir, "access.log")
		upstreamKey, masterKey := randomKey(t), randomKey(t)
		// An upstream that refuses connections: reverse_proxy then logs
		// the failed round trip, and Caddy's error log the request.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := l.Addr().String()
		l.Close()

		g := startGateway(t, gatewayOptions{store: kind,
			apiRoutes: fmt.Sprintf(`
	handle_path /admin/* {
		blnk_admin {
			master_key "%[1]s"
		}
	}
	handle_path /down/* {
		blnk_auth {
			blnk_api {
				upstream_key "%[2]s"
			}
		}
		reverse_proxy %[3]s
	}
	handle {
		blnk_auth {
			blnk_api {
				upstream_key "%[2]s"
			}
		}
		reverse_proxy {upstream}
	}
	log {
		output file %[4]s
		level DEBUG
		%[5]s
	}`, masterKey, upstreamKey, down, accessLog, strings.ReplaceAll(logFilter, "\n", "\n\t\t")),
			globalExtra: debugLog(kind, logFile),
		})

		writer := g.create("ledger writer", store.TypeOAuth, []string{"ledgers:*"}, nil)
		apiKey := g.create("ledger key", store.TypeAPIKey, []string{"ledgers:*"}, nil)
		tok := g.token(writer.Client.ID, writer.Secret, nil)
		send := func(method, url string, headers ...string) tokenResponse {
			req, _ := http.NewRequest(method, url, strings.NewReader(`{"name": "x"}`))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return g.do(req)
		}
		// Through blnk_api: the upstream must see the gateway's key.
		mustStatus(t, send("GET", g.apiURL+"/ledgers", bearer(tok)...), 200, "GET /ledgers with a token")
		if got := g.upstream.lastHeader().Get(APIKeyHeader); got != upstreamKey {
			t.Fatalf("the upstream got X-Blnk-Key %q, not the gateway's key", got)
		}
		mustStatus(t, send("POST", g.apiURL+"/ledgers", APIKeyHeader, apiKey.Secret), 200, "POST /ledgers with an API key")
		mustStatus(t, send("GET", g.apiURL+"/nothing-here", bearer(tok)...), 403, "a path naming no resource")
		if r := send("GET", g.apiURL+"/down/ledgers", APIKeyHeader, apiKey.Secret); r.status != http.StatusBadGateway {
			t.Fatalf("GET through the dead upstream: %d %s, want 502", r.status, r.raw)
		}
		// The admin API with the master key: success, client errors, not found.
		mk := []string{APIKeyHeader, masterKey}
		mustStatus(t, send("GET", g.apiURL+"/admin/clients", mk...), 200, "admin list")
		mustStatus(t, send("GET", g.apiURL+"/admin/clients/blnk_cid_nope", mk...), 404, "admin get unknown")
		mustStatus(t, send("POST", g.apiURL+"/admin/clients", mk...), 400, "admin create without scopes")
		mustStatus(t, send("DELETE", g.apiURL+"/admin/audit", mk...), 405, "admin wrong method")

		if err := stopCaddy(); err != nil { // flush the logs
			t.Fatal(err)
		}
		logs, _ := os.ReadFile(logFile)
		if !strings.Contains(string(logs), `"level":"debug"`) || !strings.Contains(string(logs), "upstream roundtrip") {
			t.Fatalf("the default log did not run at DEBUG (no reverse_proxy round trip logged):\n%s", logs)
		}
		access, _ := os.ReadFile(accessLog)
		if !strings.Contains(string(access), "handled request") {
			t.Fatalf("no access log written:\n%s", access)
		}
		secrets := map[string]string{"the blnk_api upstream key": upstreamKey, "the admin master key": masterKey, "an API key": apiKey.Secret}
		for _, f := range []string{logFile, accessLog} {
			b, _ := os.ReadFile(f)
			reported := map[string]bool{} // one report per logger and key
			for _, line := range strings.Split(string(b), "\n") {
				var entry struct {
					Logger, Msg string
				}
				_ = json.Unmarshal([]byte(line), &entry)
				for what, s := range secrets {
					for _, form := range leakForms(s) {
						if i := strings.Index(line, form); i >= 0 && !reported[entry.Logger+what] {
							reported[entry.Logger+what] = true
							t.Errorf("%s: logger %q, %q, contains %s: …%s…", filepath.Base(f), entry.Logger, entry.Msg, what, line[max(0, i-60):min(len(line), i+len(form)+10)])
						}
					}
				}
			}
		}
	})
}
