package clientmetadata

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/safefetch"
)

func TestParseClientID(t *testing.T) {
	for _, s := range []string{
		"https://example.com/client.json",
		"https://example.com:8443/a/b",
		"https://example.com:443/client",
		"https://app.example.com/.well-known/oauth-client",
		"https://example.com/a/...",
		"https://127.0.0.1/client",
	} {
		if !ValidClientID(s) {
			_, err := ParseClientID(s)
			t.Errorf("ValidClientID(%q) = false: %v", s, err)
		}
	}
	for _, s := range []string{
		"",
		"blnk_cid_abc",
		"http://example.com/client.json",
		"HTTPS://example.com/client.json",
		"https://example.com",
		"https://example.com/",
		"https://example.com/client?x=1",
		"https://example.com/client?",
		"https://example.com/client#",
		"https://example.com/client#x",
		"https://user@example.com/client",
		"https://user:pw@example.com/client",
		"https://example.com/a/./b",
		"https://example.com/a/../b",
		"https://example.com/..",
		"https://example.com/a/.",
		"https://example.com/a/%2E%2e/b",
		"https://example.com/a/.%2E",
		"https://example.com/%2e",
		// An encoded slash or backslash is a segment boundary to servers
		// that decode before routing (and a backslash is "/" to some): the
		// segments, dot segments included, are then theirs, not ours.
		"https://example.com/a/%2e%2e%2fb",
		"https://example.com/victim%2F..%2Fattacker/client.json",
		"https://example.com/a%2fb",
		"https://example.com/a/..%5Cb",
		"https://example.com/a/%5c",
		"https://example.com/a b",
		"https://A/\"", // fuzz: Go would fetch https://A/%22
		"https://example.com/" + strings.Repeat("a", MaxClientIDLength),
		"https:///client",
	} {
		_, err := ParseClientID(s)
		if !errors.Is(err, ErrClientID) {
			t.Errorf("ParseClientID(%q): err %v, want %s", s, err, ReasonClientID)
		}
	}
}

// docServer serves documents: docs[path] with "{{id}}" replaced by the URL
// the document was fetched at (what a well-made client puts in client_id).
type docServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]string
	ct   map[string]string
	hits map[string]int
}

func newDocServer(t *testing.T) *docServer {
	s := &docServer{docs: map[string]string{}, ct: map[string]string{}, hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		doc, ok := s.docs[r.URL.Path]
		ct := s.ct[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write([]byte(strings.ReplaceAll(doc, "{{id}}", "https://"+r.Host+r.URL.Path)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *docServer) serve(path, doc string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = doc
	return s.URL + path
}

func (s *docServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *docServer) resolver(o safefetch.Options) *Resolver {
	o.RootCAs = s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	if !o.AllowPrivate && len(o.AllowedHosts) == 0 {
		o.AllowPrivate = true // the test server is on loopback
	}
	return &Resolver{Fetcher: safefetch.New(o)}
}

func TestResolveGoodDocument(t *testing.T) {
	s := newDocServer(t)
	id := s.serve("/oauth/client.json", `{
		"client_id": "{{id}}",
		"client_name": "Claude — desktop",
		"client_uri": "https://claude.ai/",
		"logo_uri": "https://claude.ai/logo.png",
		"redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1/callback", "http://[::1]:33418/cb", "http://localhost:8080/cb", "com.example.app:/oauth2redirect"],
		"grant_types": ["authorization_code", "refresh_token"],
		"response_types": ["code"],
		"token_endpoint_auth_method": "none",
		"scope": "mcp:read mcp:write",
		"software_id": "ignored",
		"contacts": ["ignored@example.com"]
	}`)
	r := s.resolver(safefetch.Options{})
	d, err := r.Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{
		ClientID:   id,
		ClientName: "Claude — desktop",
		ClientURI:  "https://claude.ai/",
		LogoURI:    "https://claude.ai/logo.png",
		RedirectURIs: []string{"https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1/callback",
			"http://[::1]:33418/cb", "http://localhost:8080/cb", "com.example.app:/oauth2redirect"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none",
		Scope:                   "mcp:read mcp:write",
	}
	gotJSON, _ := json.Marshal(d)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("document\n got %s\nwant %s", gotJSON, wantJSON)
	}
	// Cached by the fetcher: no second request.
	if _, err := r.Resolve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := s.count("/oauth/client.json"); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
}

func TestResolveDefaults(t *testing.T) {
	s := newDocServer(t)
	id := s.serve("/c", `{"client_id":"{{id}}","client_name":"App","redirect_uris":["https://app.example/cb"]}`)
	d, err := s.resolver(safefetch.Options{}).Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.TokenEndpointAuthMethod != AuthMethodNone || !slices.Equal(d.GrantTypes, []string{"authorization_code"}) ||
		!slices.Equal(d.ResponseTypes, []string{"code"}) || d.JWKS != nil || d.JWKSURI != "" {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestResolvePrivateKeyJWT(t *testing.T) {
	s := newDocServer(t)
	pub := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}`
	id := s.serve("/m2m", `{"client_id":"{{id}}","client_name":"M2M","token_endpoint_auth_method":"private_key_jwt",
		"grant_types":["client_credentials"],"jwks":{"keys":[`+pub+`]}}`)
	d, err := s.resolver(safefetch.Options{}).Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(d.JWKS, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "k1" {
		t.Fatalf("jwks %s: %v", d.JWKS, err)
	}
	id = s.serve("/m2m-uri", `{"client_id":"{{id}}","client_name":"M2M","token_endpoint_auth_method":"private_key_jwt",
		"grant_types":["client_credentials"],"jwks_uri":"https://client.example/jwks.json"}`)
	d, err = s.resolver(safefetch.Options{}).Resolve(context.Background(), id)
	if err != nil || d.JWKSURI != "https://client.example/jwks.json" {
		t.Fatalf("jwks_uri document: %+v, %v", d, err)
	}
}

func TestResolveRefusals(t *testing.T) {
	pub := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	priv := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`
	const redir = `"redirect_uris":["https://app.example/cb"]`
	const ru = `"client_name":"App",` + redir
	pkjwt := `"token_endpoint_auth_method":"private_key_jwt",`
	for name, c := range map[string]struct {
		doc    string
		want   *Error
		detail string // in the error's text: the rule that refused it
	}{
		"mismatched client_id":                  {`{"client_id":"https://evil.example/client",` + ru + `}`, ErrMismatch, ""},
		"client_id with a suffix":               {`{"client_id":"{{id}}x",` + ru + `}`, ErrMismatch, ""},
		"no client_id":                          {`{` + ru + `}`, ErrMismatch, "client_id is missing"},
		"client_id differs in case only of key": {`{"CLIENT_ID":"{{id}}",` + ru + `}`, ErrMismatch, "client_id is missing"},
		"client_id not a string":                {`{"client_id":1,` + ru + `}`, ErrDocument, "client_id is not a string"},
		"client_secret":                         {`{"client_id":"{{id}}","client_secret":"s3cr3t",` + ru + `}`, ErrSecret, "client_secret is present"},
		"client_secret null":                    {`{"client_id":"{{id}}","client_secret":null,` + ru + `}`, ErrSecret, "client_secret is present"},
		"client_secret_expires_at":              {`{"client_id":"{{id}}","client_secret_expires_at":0,` + ru + `}`, ErrSecret, "client_secret_expires_at is present"},
		"client_secret_basic":                   {`{"client_id":"{{id}}","token_endpoint_auth_method":"client_secret_basic",` + ru + `}`, ErrSecret, "shared-secret method"},
		"client_secret_post":                    {`{"client_id":"{{id}}","token_endpoint_auth_method":"client_secret_post",` + ru + `}`, ErrSecret, "shared-secret method"},
		"client_secret_jwt":                     {`{"client_id":"{{id}}","token_endpoint_auth_method":"client_secret_jwt",` + ru + `}`, ErrSecret, "shared-secret method"},
		"tls_client_auth":                       {`{"client_id":"{{id}}","token_endpoint_auth_method":"tls_client_auth",` + ru + `}`, ErrAuthMethod, ""},
		"private key in jwks":                   {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{"keys":[` + priv + `]},` + ru + `}`, ErrKeys, "private key material"},
		"symmetric key in jwks":                 {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{"keys":[{"kty":"oct","k":"AAAA"}]},` + ru + `}`, ErrKeys, "symmetric key"},
		"jwks without keys":                     {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{},` + ru + `}`, ErrKeys, "no keys array"},
		"jwks key without kty":                  {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{"keys":[{"x":"1"}]},` + ru + `}`, ErrKeys, "has no kty"},
		"jwks with a duplicate member":          {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{"keys":[],"keys":[` + pub + `]},` + ru + `}`, ErrKeys, "jwks is not a JSON object"},
		"jwks and jwks_uri":                     {`{"client_id":"{{id}}",` + pkjwt + `"jwks":{"keys":[` + pub + `]},"jwks_uri":"https://a.example/j",` + ru + `}`, ErrKeys, "both jwks and jwks_uri"},
		"http jwks_uri":                         {`{"client_id":"{{id}}",` + pkjwt + `"jwks_uri":"http://a.example/j",` + ru + `}`, ErrKeys, "jwks_uri"},
		"private_key_jwt no keys":               {`{"client_id":"{{id}}",` + pkjwt + ru + `}`, ErrKeys, "without jwks or jwks_uri"},
		"no redirect_uris":                      {`{"client_id":"{{id}}","client_name":"App"}`, ErrRedirectURI, "missing or empty"},
		"empty redirect_uris":                   {`{"client_id":"{{id}}","client_name":"App","redirect_uris":[]}`, ErrRedirectURI, "missing or empty"},
		"bad redirect URI":                      {`{"client_id":"{{id}}","client_name":"App","redirect_uris":["https://app.example/cb","http://app.example/cb"]}`, ErrRedirectURI, "redirect_uris[1]: http on a non-loopback host"},
		"redirect_uris a string":                {`{"client_id":"{{id}}","client_name":"App","redirect_uris":"https://app.example/cb"}`, ErrDocument, "redirect_uris is not an array"},
		"redirect_uris with null":               {`{"client_id":"{{id}}","client_name":"App","redirect_uris":["https://app.example/cb",null]}`, ErrDocument, "redirect_uris is not an array"},
		"no client_name":                        {`{"client_id":"{{id}}",` + redir + `}`, ErrDocument, "client_name is missing"},
		"blank client_name":                     {`{"client_id":"{{id}}","client_name":"  ",` + redir + `}`, ErrDocument, "client_name is missing"},
		"not JSON":                              {`<html>hello</html>`, ErrDocument, "not a JSON object"},
		"an array":                              {`[{"client_id":"{{id}}"}]`, ErrDocument, "not a JSON object"},
		"trailing data":                         {`{"client_id":"{{id}}",` + ru + `}{}`, ErrDocument, "data after the JSON object"},
		"truncated":                             {`{"client_id":"{{id}}",` + ru, ErrDocument, "not JSON"},
		"duplicate client_id":                   {`{"client_id":"https://evil.example/x","client_id":"{{id}}",` + ru + `}`, ErrDocument, "duplicate member"},
		"escaped duplicate":                     {`{"client_id":"{{id}}","client\u005fid":"{{id}}",` + ru + `}`, ErrDocument, "duplicate member"},
		"invalid UTF-8":                         {"{\"client_id\":\"{{id}}\",\"client_name\":\"\xff\"," + redir + "}", ErrDocument, "not UTF-8"},
		"bidi override in name":                 {`{"client_id":"{{id}}","client_name":"Good App\u202egnp.exe",` + redir + `}`, ErrDocument, "client_name has control"},
		"control char in name":                  {`{"client_id":"{{id}}","client_name":"a\u0007b",` + redir + `}`, ErrDocument, "client_name has control"},
		"javascript logo_uri":                   {`{"client_id":"{{id}}","logo_uri":"javascript:alert(1)",` + ru + `}`, ErrDocument, "logo_uri is not an https URL"},
		"quote in logo_uri":                     {`{"client_id":"{{id}}","logo_uri":"https://app.example/l.png\" onerror=\"x",` + ru + `}`, ErrDocument, "logo_uri is not an https URL"},
		"http client_uri":                       {`{"client_id":"{{id}}","client_uri":"http://app.example/",` + ru + `}`, ErrDocument, "client_uri is not an https URL"},
		"bad scope":                             {`{"client_id":"{{id}}","scope":"a \"b\"",` + ru + `}`, ErrDocument, "scope is not"},
		"double space scope":                    {`{"client_id":"{{id}}","scope":"a  b",` + ru + `}`, ErrDocument, "scope is not"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newDocServer(t)
			id := s.serve("/client", c.doc)
			r := s.resolver(safefetch.Options{})
			_, err := r.Resolve(context.Background(), id)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v (reason %q), want %s", err, ReasonOf(err), c.want.Reason)
			}
			if !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("err %v, want one naming %q", err, c.detail)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "evil.example") {
				t.Fatalf("the error quotes the document: %v", err)
			}
			// An invalid document is not kept, but is remembered as a failure:
			// the same refusal, without asking the host again.
			_, err2 := r.Resolve(context.Background(), id)
			if !errors.Is(err2, c.want) || s.count("/client") != 1 {
				t.Fatalf("second Resolve: %v after %d fetches; want the same refusal after 1", err2, s.count("/client"))
			}
		})
	}
}

func TestRedirectURIs(t *testing.T) {
	for _, ru := range []string{
		"https://app.example/cb",
		"https://app.example:8443/cb?x=1",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:51004/cb",
		"http://127.1.2.3/cb",
		"http://[::1]/cb",
		"http://[::1]:8080/cb",
		"http://localhost:3000/cb",
		"com.example.app:/oauth2redirect",
		"com.example.app://callback",
		"cursor.mcp:/callback",
	} {
		if why := checkRedirectURI(ru); why != "" {
			t.Errorf("%q refused: %s", ru, why)
		}
	}
	for _, ru := range []string{
		"",
		"/cb",
		"cb",
		"//app.example/cb",
		"http://app.example/cb",
		"http://127.0.0.1.nip.io/cb",
		"http://localhost.evil.example/cb",
		"http://[::ffff:127.0.0.1]/cb",
		"http://0.0.0.0/cb",
		"http://user@127.0.0.1/cb",
		"https://user@app.example/cb",
		"https://app.example/cb#",
		"https://app.example/cb#x",
		"https:/cb",
		"https:app.example",
		"HTTPS://app.example/cb",
		"Http://127.0.0.1/cb",
		"javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"file:///etc/passwd",
		"myapp:/cb",
		"https://app.example/c b",
		"https://app.example\\@evil.example/cb",
		"https://app.example/cb\n",
		"https://app.example/cb?x=\"><script>",
		"https://app.example/c<b>",
		"https://app.example/c{b}",
		"https://app.example/" + strings.Repeat("a", 2048),
	} {
		if why := checkRedirectURI(ru); why == "" {
			t.Errorf("%q accepted", ru)
		}
	}
}

func TestResolveGrantWithoutRedirect(t *testing.T) {
	// The draft §4.2: redirect URIs matter only to grants that redirect.
	s := newDocServer(t)
	id := s.serve("/c", `{"client_id":"{{id}}","client_name":"M2M","grant_types":["client_credentials"],
		"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://c.example/jwks"}`)
	if _, err := s.resolver(safefetch.Options{}).Resolve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestResolveFetchFailures(t *testing.T) {
	s := newDocServer(t)
	doc := `{"client_id":"{{id}}","client_name":"App","redirect_uris":["https://app.example/cb"]}`

	// Not JSON by content type.
	id := s.serve("/html", doc)
	s.mu.Lock()
	s.ct["/html"] = "text/html"
	s.mu.Unlock()
	_, err := s.resolver(safefetch.Options{}).Resolve(context.Background(), id)
	if !errors.Is(err, ErrFetch) || !errors.Is(err, safefetch.ErrContentType) {
		t.Fatalf("text/html: %v", err)
	}

	// A 404.
	_, err = s.resolver(safefetch.Options{}).Resolve(context.Background(), s.URL+"/missing")
	if !errors.Is(err, ErrFetch) || !errors.Is(err, safefetch.ErrStatus) {
		t.Fatalf("404: %v", err)
	}

	// Private address, AllowPrivate off: the host is never asked.
	id = s.serve("/private", doc)
	r := &Resolver{Fetcher: safefetch.New(safefetch.Options{})}
	_, err = r.Resolve(context.Background(), id)
	if !errors.Is(err, ErrFetch) || !errors.Is(err, safefetch.ErrAddress) {
		t.Fatalf("loopback host: %v", err)
	}
	u, _ := url.Parse(s.URL)
	_, err = r.Resolve(context.Background(), "https://localhost:"+u.Port()+"/private")
	if !errors.Is(err, safefetch.ErrAddress) {
		t.Fatalf("localhost: %v", err)
	}
	if n := s.count("/private"); n != 0 {
		t.Fatalf("a private host was fetched %d times", n)
	}

	// Allowlist.
	r = s.resolver(safefetch.Options{AllowPrivate: true, AllowedHosts: []string{"mcp.example"}})
	if _, err := r.Resolve(context.Background(), id); !errors.Is(err, safefetch.ErrHost) {
		t.Fatalf("host off the allowlist: %v", err)
	}

	// Not an https client ID: nothing is fetched.
	_, err = s.resolver(safefetch.Options{}).Resolve(context.Background(), strings.Replace(id, "https:", "http:", 1))
	if !errors.Is(err, ErrClientID) {
		t.Fatalf("http client_id: %v", err)
	}

	// Too large for NewResolver's default of 5 KiB.
	pad := func(n int) string {
		return `{"client_id":"{{id}}","client_name":"App","redirect_uris":["https://app.example/cb"],"pad":"` + strings.Repeat("x", n) + `"}`
	}
	big := s.serve("/big", pad(6000))
	r = NewResolver(safefetch.Options{AllowPrivate: true, RootCAs: s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	if _, err := r.Resolve(context.Background(), big); !errors.Is(err, safefetch.ErrTooLarge) {
		t.Fatalf("6 KB document: %v", err)
	}
	fits := s.serve("/fits", pad(4000))
	if _, err := r.Resolve(context.Background(), fits); err != nil {
		t.Fatalf("4 KB document: %v", err)
	}
}

func TestResolveSeesChangedDocumentAfterTTL(t *testing.T) {
	s := newDocServer(t)
	id := s.serve("/c", `{"client_id":"{{id}}","client_name":"One","redirect_uris":["https://app.example/cb"]}`)
	r := s.resolver(safefetch.Options{MinTTL: 50 * time.Millisecond, MaxTTL: 50 * time.Millisecond})
	d, err := r.Resolve(context.Background(), id)
	if err != nil || d.ClientName != "One" {
		t.Fatalf("%+v %v", d, err)
	}
	s.serve("/c", `{"client_id":"{{id}}","client_name":"Two","redirect_uris":["https://app.example/cb"]}`)
	d, _ = r.Resolve(context.Background(), id)
	if d.ClientName != "One" {
		t.Fatalf("within the TTL the cached document is used, got %q", d.ClientName)
	}
	for d.ClientName == "One" { // the fetcher's clock is real here: wait out the TTL
		time.Sleep(10 * time.Millisecond)
		if d, err = r.Resolve(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if d.ClientName != "Two" || s.count("/c") != 2 {
		t.Fatalf("after the TTL: %q after %d fetches", d.ClientName, s.count("/c"))
	}
}
