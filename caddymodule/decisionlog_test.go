package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// decisionLog is the Caddyfile global option README.md documents for the
// decision log.
const decisionLog = `log decisions {
	output file %s
	include http.handlers.blnk_auth.decisions
	level DEBUG
}`

// TestDecisionLogThroughCaddy: with the documented log block, each decision
// of blnk_auth is one JSON line in its own file, naming the client and the
// outcome, and the default log (INFO) has none of them.
func TestDecisionLogThroughCaddy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "decisions.log")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(normalizeCaddyfile(string(readme)), normalizeCaddyfile(fmt.Sprintf(decisionLog, "/var/log/caddy/decisions.log"))) {
		t.Error("README.md does not show the decision log block this test uses")
	}
	g := startGateway(t, gatewayOptions{globalExtra: fmt.Sprintf(decisionLog, file)})
	c := g.create("agent", store.TypeOAuth, []string{"mcp:read"}, nil)
	tok := g.token(c.Client.ID, c.Secret, nil)
	mustStatus(t, g.call("/mcp", bearer(tok)...), 200, "with a token")
	mustStatus(t, g.call("/ledgers", bearer(tok)...), 403, "without the scope")

	var entries []map[string]any
	eventually(t, 5*time.Second, "two decisions logged", func() bool {
		entries = nil
		f, err := os.Open(file)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				entries = append(entries, e)
			}
		}
		return len(entries) >= 2
	})
	if len(entries) != 2 {
		t.Fatalf("%d entries: %v", len(entries), entries)
	}
	for i, want := range []string{"allowed", "insufficient_scope"} {
		e := entries[i]
		if e["logger"] != "http.handlers.blnk_auth.decisions" || e["msg"] != "decision" || e["outcome"] != want || e["client_id"] != c.Client.ID {
			t.Errorf("entry %d: %v", i, e)
		}
		if s := fmt.Sprint(e); strings.Contains(s, tok) || strings.Contains(s, c.Secret) {
			t.Errorf("entry %d holds a credential", i)
		}
	}
}
