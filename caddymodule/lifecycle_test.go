package caddymodule

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestRevocationLocksOutAtOnce: revoking a client through another connection
// (as the CLI or another instance would) stops its live tokens within a second.
func TestRevocationLocksOutAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		c := g.create("soon revoked", store.TypeOAuth, []string{"*"}, nil)
		key := g.create("soon revoked key", store.TypeAPIKey, []string{"*"}, nil)
		tok := g.token(c.Client.ID, c.Secret, nil)
		if r := g.call("/mcp", bearer(tok)...); r.status != 200 {
			t.Fatalf("before revocation: %d %s", r.status, r.raw)
		}
		if r := g.call("/mcp", "X-Blnk-Key", key.Secret); r.status != 200 {
			t.Fatalf("key before revocation: %d %s", r.status, r.raw)
		}
		for _, id := range []string{c.Client.ID, key.Client.ID} {
			if _, err := g.svc.Revoke(context.Background(), admin.CLI, id); err != nil {
				t.Fatal(err)
			}
		}
		took := eventually(t, time.Second, "revoked token refused", func() bool {
			return g.call("/mcp", bearer(tok)...).status == 401
		})
		eventually(t, time.Second, "revoked API key refused", func() bool {
			return g.call("/mcp", "X-Blnk-Key", key.Secret).status == 401
		})
		t.Logf("revocation took effect after %s", took)
		if r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret); r.status != 401 {
			t.Fatalf("revoked client got a token: %d %s", r.status, r.raw)
		}
		// It stays listed as revoked.
		got, err := g.svc.Get(context.Background(), c.Client.ID)
		if err != nil || got.Status(time.Now()) != store.StatusRevoked {
			t.Fatalf("after revocation: %v %v", got, err)
		}

		// Deleting a client stops its tokens too.
		d := g.create("soon deleted", store.TypeOAuth, []string{"*"}, nil)
		dtok := g.token(d.Client.ID, d.Secret, nil)
		if r := g.call("/mcp", bearer(dtok)...); r.status != 200 {
			t.Fatalf("before delete: %d", r.status)
		}
		if err := g.svc.Delete(context.Background(), admin.CLI, d.Client.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "deleted client's token refused", func() bool {
			return g.call("/mcp", bearer(dtok)...).status == 401
		})
	})
}

// TestExpiryLocksOut: a client's expiry caps its tokens and stops them the
// moment it passes, with no notification needed.
func TestExpiryLocksOut(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		g := startGateway(t, gatewayOptions{store: kind})
		exp := time.Now().Add(2 * time.Second)
		c := g.create("short lived", store.TypeOAuth, []string{"mcp:read"}, &exp)
		key := g.create("short lived key", store.TypeAPIKey, []string{"mcp:read"}, &exp)
		r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret)
		if r.status != 200 || r.body["expires_in"].(float64) > 2 {
			t.Fatalf("token: %d %s (expires_in must not pass the client's expiry)", r.status, r.raw)
		}
		tok := r.body["access_token"].(string)
		if r := g.call("/mcp", bearer(tok)...); r.status != 200 {
			t.Fatalf("before expiry: %d", r.status)
		}
		if r := g.call("/mcp", "X-Blnk-Key", key.Secret); r.status != 200 {
			t.Fatalf("key before expiry: %d", r.status)
		}
		time.Sleep(time.Until(exp) + 50*time.Millisecond)
		if r := g.call("/mcp", bearer(tok)...); r.status != 401 {
			t.Fatalf("after expiry: %d %s", r.status, r.raw)
		}
		if r := g.call("/mcp", "X-Blnk-Key", key.Secret); r.status != 401 {
			t.Fatalf("key after expiry: %d %s", r.status, r.raw)
		}
		if r := g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret); r.status != 401 {
			t.Fatalf("expired client got a token: %d", r.status)
		}
	})
}

// TestDatabaseDown: with the database unreachable, a client that is not
// cached gets 503 with Retry-After, never a 200 and never a misleading 401;
// once the change feed has been down for a second even cached clients are
// re-checked, so they get 503 too. Service resumes with the database.
func TestDatabaseDown(t *testing.T) {
	realDSN := testdb.New(t)
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	u, _ := url.Parse(realDSN)
	u.Host = proxy.addr
	g := startGateway(t, gatewayOptions{dsn: u.String()})
	c := g.create("cached", store.TypeOAuth, []string{"mcp:read"}, nil)
	key := g.create("uncached key", store.TypeAPIKey, []string{"mcp:read"}, nil)
	tok := g.token(c.Client.ID, c.Secret, nil)
	if r := g.call("/mcp", bearer(tok)...); r.status != 200 {
		t.Fatalf("before the outage: %d", r.status)
	}

	proxy.setDown(true)
	r := g.call("/mcp", "X-Blnk-Key", key.Secret)
	if r.status != 503 || r.header.Get("Retry-After") == "" || r.body["error"] != "temporarily_unavailable" {
		t.Fatalf("uncached client with the database down: %d %v %s", r.status, r.header, r.raw)
	}
	eventually(t, 3*time.Second, "cached client re-checked once the change feed is lost", func() bool {
		return g.call("/mcp", bearer(tok)...).status == 503
	})
	tr := g.postToken(url.Values{"grant_type": {"client_credentials"}}, c.Client.ID, c.Secret)
	if tr.status != 503 || tr.body["error"] != "temporarily_unavailable" || tr.header.Get("Retry-After") == "" {
		t.Fatalf("token endpoint with the database down: %d %s", tr.status, tr.raw)
	}

	proxy.setDown(false)
	eventually(t, 5*time.Second, "service resumes", func() bool {
		return g.call("/mcp", bearer(tok)...).status == 200 && g.call("/mcp", "X-Blnk-Key", key.Secret).status == 200
	})
}

// TestConfigReload: a reload keeps serving, keeps the tokens valid (same keys,
// same database) and keeps the change feed; stopping Caddy closes every
// database connection.
func TestConfigReload(t *testing.T) {
	dsn := testdb.New(t)
	port, apiPort := freePort(t), freePort(t)
	g := startGateway(t, gatewayOptions{dsn: dsn, authPort: port, apiPort: apiPort})
	c := g.create("survivor", store.TypeOAuth, []string{"mcp:read", "ledgers:read"}, nil)
	tok := g.token(c.Client.ID, c.Secret, nil)

	// Reload with a changed route: /mcp now also needs ledgers:read.
	up := strings.TrimPrefix(g.upstreamURL(), "http://")
	cfg := g.caddyfile(port, apiPort, "blnk_auth /mcp* mcp:read ledgers:read\n\treverse_proxy "+up)
	g.load(cfg)
	if r := g.call("/mcp", bearer(tok)...); r.status != 200 {
		t.Fatalf("after reload: %d %s", r.status, r.raw)
	}
	other := g.create("narrow", store.TypeOAuth, []string{"mcp:read"}, nil)
	otok := g.token(other.Client.ID, other.Secret, nil)
	if r := g.call("/mcp", bearer(otok)...); r.status != 403 {
		t.Fatalf("new route scopes not applied: %d", r.status)
	}
	// The change feed survived the reload.
	if _, err := g.svc.Revoke(context.Background(), admin.CLI, c.Client.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "revocation after reload", func() bool {
		return g.call("/mcp", bearer(tok)...).status == 401
	})

	// Reload again many times; the shared pool is neither dropped nor leaked.
	for i := 0; i < 5; i++ {
		g.load(cfg)
	}
	if n := gatewayConnections(t, dsn); n == 0 || n > 10 {
		t.Fatalf("%d gateway connections after reloads", n)
	}
	if err := stopCaddy(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "connections closed after stop", func() bool {
		return gatewayConnections(t, dsn) == 0
	})
}

// gatewayConnections counts the gateway's connections (pool and listener) to dsn's database.
func gatewayConnections(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testdb.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	u, _ := url.Parse(dsn)
	var n int
	err = conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND application_name IN ('blnk_auth', 'blnk_auth_listener')`, strings.TrimPrefix(u.Path, "/")).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tcpProxy forwards to a server and can play dead.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	down         bool
	conns        map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			if !down {
				p.conns[c] = true
			}
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *tcpProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[s] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// setDown refuses new connections and cuts the open ones (true), or resumes (false).
func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}
