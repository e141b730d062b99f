package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files of the Caddyfile adapt tests")

// TestCaddyfileAdapt compares each testdata/adapt/*.caddyfile, adapted to JSON,
// with its .json golden file (go test -run TestCaddyfileAdapt -update rewrites them).
func TestCaddyfileAdapt(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.caddyfile")
	if len(files) == 0 {
		t.Fatal("no adapt test files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("adapted JSON differs from %s:\n%s", golden, pretty.String())
			}
		})
	}
}

// TestCaddyfileErrors: mistakes are reported with file and line.
func TestCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"unknown global option":  "{\n\tblnk_auth {\n\t\tnope 1\n\t}\n}\n:80 {\n\trespond ok\n}",
		"global with argument":   "{\n\tblnk_auth x\n}\n:80 {\n\trespond ok\n}",
		"bad duration":           "{\n\tblnk_auth {\n\t\ttoken_ttl soon\n\t}\n}\n:80 {\n\trespond ok\n}",
		"bad cache size":         "{\n\tblnk_auth {\n\t\tclient_cache_size lots\n\t}\n}\n:80 {\n\trespond ok\n}",
		"two databases":          "{\n\tblnk_auth {\n\t\tdatabase a b\n\t}\n}\n:80 {\n\trespond ok\n}",
		"oauth with block":       ":80 {\n\tblnk_oauth {\n\t\tfoo\n\t}\n}",
		"auth unknown option":    ":80 {\n\tblnk_auth {\n\t\tfoo bar\n\t}\n}",
		"auth scopes empty":      ":80 {\n\tblnk_auth {\n\t\tscopes\n\t}\n}",
		"auth resource two args": ":80 {\n\tblnk_auth {\n\t\tresource a b\n\t}\n}",
		"rate_limit per day":     ":80 {\n\tblnk_auth {\n\t\trate_limit 100/d\n\t}\n}",
		"rate_limit burst zero":  ":80 {\n\tblnk_auth {\n\t\trate_limit 100/s burst 0\n\t}\n}",
		"rate_limit no rate":     ":80 {\n\tblnk_auth {\n\t\trate_limit\n\t}\n}",
		"rate_limit bad word":    ":80 {\n\tblnk_auth {\n\t\trate_limit 100/s bursts 3\n\t}\n}",
		"change_feed no mode":    "{\n\tblnk_auth {\n\t\tchange_feed\n\t}\n}\n:80 {\n\trespond ok\n}",
		"change_feed bad mode":   "{\n\tblnk_auth {\n\t\tchange_feed notify\n\t}\n}\n:80 {\n\trespond ok\n}",
		"change_feed bad poll":   "{\n\tblnk_auth {\n\t\tchange_feed poll often\n\t}\n}\n:80 {\n\trespond ok\n}",
		"change_feed listen arg": "{\n\tblnk_auth {\n\t\tchange_feed listen 1s\n\t}\n}\n:80 {\n\trespond ok\n}",
		"max_stale bad":          "{\n\tblnk_auth {\n\t\tmax_stale forever\n\t}\n}\n:80 {\n\trespond ok\n}",
		"throttle on":            "{\n\tblnk_auth {\n\t\tthrottle on\n\t}\n}\n:80 {\n\trespond ok\n}",
		"throttle zero budget":   "{\n\tblnk_auth {\n\t\tthrottle {\n\t\t\taddress_failures 0\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"throttle unknown":       "{\n\tblnk_auth {\n\t\tthrottle {\n\t\t\tfoo 1\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"auth mcp and blnk_api":  ":80 {\n\tblnk_auth {\n\t\tmcp\n\t\tblnk_api\n\t}\n}",
		"admin idle timeout":     ":80 {\n\tblnk_admin {\n\t\tsession_idle_timeout soon\n\t}\n}",
		"admin lifetime zero":    ":80 {\n\tblnk_admin {\n\t\tsession_lifetime 0s\n\t}\n}",
		"admin lifetime two":     ":80 {\n\tblnk_admin {\n\t\tsession_lifetime 1h 2h\n\t}\n}",
		"admin no_dashboard arg": ":80 {\n\tblnk_admin {\n\t\tno_dashboard yes\n\t}\n}",
		"admin scope_choices":    ":80 {\n\tblnk_admin {\n\t\tscope_choices\n\t}\n}",
		"rotation never":         "{\n\tblnk_auth {\n\t\tsigning_key_rotation never\n\t}\n}\n:80 {\n\trespond ok\n}",
		"rotation negative":      "{\n\tblnk_auth {\n\t\tsigning_key_rotation -1h\n\t}\n}\n:80 {\n\trespond ok\n}",
		"rotation two args":      "{\n\tblnk_auth {\n\t\tsigning_key_rotation 1d 2d\n\t}\n}\n:80 {\n\trespond ok\n}",
		"publish lead bad":       "{\n\tblnk_auth {\n\t\tsigning_key_publish_lead soon\n\t}\n}\n:80 {\n\trespond ok\n}",
		"consent_url two":        "{\n\tblnk_auth {\n\t\tconsent_url /a /b\n\t}\n}\n:80 {\n\trespond ok\n}",
		"refresh_token_ttl bad":  "{\n\tblnk_auth {\n\t\trefresh_token_ttl long\n\t}\n}\n:80 {\n\trespond ok\n}",
		"login not oidc":         "{\n\tblnk_auth {\n\t\tlogin saml {\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"login unknown option":   "{\n\tblnk_auth {\n\t\tlogin oidc {\n\t\t\tissuers x\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"login grant no scope":   "{\n\tblnk_auth {\n\t\tlogin oidc {\n\t\t\tgrant admins\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"login empty domains":    "{\n\tblnk_auth {\n\t\tlogin oidc {\n\t\t\tallowed_domains\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
		"login two issuers":      "{\n\tblnk_auth {\n\t\tlogin oidc {\n\t\t\tissuer a b\n\t\t}\n\t}\n}\n:80 {\n\trespond ok\n}",
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("error without position: %v", err)
			}
		})
	}
}
