package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/backend"
	"github.com/blnkfinance/blnk-auth-gateway/internal/credential"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// loadResult is one request of a load run.
type loadResult struct {
	kind       string
	start, end time.Time
	status     int
	retryAfter string
	err        error
}

// gatewayBackend finds the running gateway's backend (its cache and change
// feed) in the pool Caddy's configs share, to observe what its feed applied.
func gatewayBackend(t *testing.T, dsn string) *backend.Backend {
	t.Helper()
	var b *backend.Backend
	backends.Range(func(k, v any) bool {
		if h, ok := v.(backendHandle); ok && strings.Contains(k.(string), dsn) {
			b = h.Backend
			return false
		}
		return true
	})
	if b == nil {
		t.Fatal("the gateway's backend is not in the pool")
	}
	return b
}

// TestDatabaseOutage stops a real PostgreSQL under load and starts it again.
// The gateway runs on a cluster of the test's own (initdb, pg_ctl) with
// max_stale 2s (once more through a transaction-pooling PgBouncer in front
// of it); goroutines call a blnk_auth route with tokens and an API
// key of cached clients and with API keys of clients nobody knows. Then:
//
//   - while the database is down, cached clients keep passing until
//     max_stale, then get 503 temporarily_unavailable with Retry-After;
//     unknown clients get 503 with Retry-After at once; the token endpoint
//     answers alike;
//   - started again, the database is followed again without a restart: a
//     client revoked on it, and then a token, are refused once the feed has
//     applied them, within a bound;
//   - wrongful 200s — a cached client's request started past max_stale (plus
//     the time the feed takes to notice the stop) while the database is down,
//     or a revoked client's or token's request started after the feed applied
//     its revocation — are counted, printed and must be 0.
//
// It runs with pg_ctl's fast shutdown (connections told and closed) and its
// immediate one (the server quits without a checkpoint, as in a crash, and
// recovers at the next start), and with fast shutdown again with the change
// feed polling (change_feed poll) instead of listening.
func TestDatabaseOutage(t *testing.T) {
	for _, c := range []struct {
		mode, feed string
		bouncer    bool
	}{{"fast", "", false}, {"immediate", "", false}, {"fast", "change_feed poll 100ms", false}, {"fast", "change_feed poll 100ms", true}} {
		name := c.mode
		if c.feed != "" {
			name += "/poll"
		}
		if c.bouncer {
			name += "/pgbouncer"
		}
		t.Run(name, func(t *testing.T) { testDatabaseOutage(t, c.mode, c.feed, c.bouncer) })
	}
}

func testDatabaseOutage(t *testing.T, mode, feed string, bouncer bool) {
	pg := newPGCluster(t)
	dsn := pg.dsn()
	if bouncer {
		dsn = startPgBouncerFor(t, pg.dsn(), "postgres")
	}
	const (
		maxStale = 2 * time.Second
		// notice bounds how long after pg_ctl stop returns the feed may still
		// believe itself connected (it learns of the stop when the server
		// closes its connection, before pg_ctl returns) plus a request's own
		// time in flight.
		notice = 500 * time.Millisecond
	)
	g := startGateway(t, gatewayOptions{dsn: dsn, appExtra: "max_stale 2s\nthrottle off\n" + feed})
	b := gatewayBackend(t, dsn)

	active := g.create("active", store.TypeOAuth, []string{"mcp:read"}, nil)
	key := g.create("key", store.TypeAPIKey, []string{"mcp:read"}, nil)
	doomed := g.create("doomed", store.TypeOAuth, []string{"mcp:read"}, nil)
	tokActive := g.token(active.Client.ID, active.Secret, nil)
	tokDoomed := g.token(doomed.Client.ID, doomed.Secret, nil)
	tokRevoked := g.token(active.Client.ID, active.Secret, nil) // revoked after the restart
	creds := map[string]string{"token": tokActive, "api_key": key.Secret, "doomed": tokDoomed, "revoked_token": tokRevoked}
	for kind, c := range creds {
		mustStatus(t, g.call("/mcp", bearer(c)...), 200, kind+" before the outage")
	}
	kinds := []string{"token", "api_key", "doomed", "revoked_token", "unknown"}

	client := &http.Client{Timeout: 15 * time.Second}
	var (
		mu      sync.Mutex
		results []loadResult
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	// A goroutine per kind: a request that waits for the database (an
	// unknown client behind PgBouncer waits up to the lookup timeout) must
	// not hold up the others.
	for _, kind := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				cred := creds[kind]
				if kind == "unknown" {
					cred, _ = credential.NewAPIKey(credential.NewClientID()) // never seen: not in the negative cache
				}
				req, _ := http.NewRequest(http.MethodGet, g.apiURL+"/mcp", nil)
				req.Header.Set("Authorization", "Bearer "+cred)
				r := loadResult{kind: kind, start: time.Now()}
				resp, err := client.Do(req)
				r.end = time.Now()
				if err != nil {
					r.err = err
				} else {
					r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
					resp.Body.Close()
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { stop.Store(true); wg.Wait() })
	t.Cleanup(stopLoad)

	time.Sleep(300 * time.Millisecond)
	stopAt := time.Now()
	pg.stop(mode)
	stopped := time.Now()
	t.Logf("pg_ctl stop -m %s took %s", mode, stopped.Sub(stopAt).Round(time.Millisecond))
	// The token endpoint alike (RFC 6749 §5.2): a cached client gets a token
	// within max_stale, an unknown one 503 at once, and past max_stale the
	// cached one 503 too.
	tokenCall := func(id, secret string) tokenResponse {
		return g.postToken(url.Values{"grant_type": {"client_credentials"}}, id, secret)
	}
	if r := tokenCall(active.Client.ID, active.Secret); r.status != 200 && time.Since(stopAt) < maxStale-100*time.Millisecond {
		t.Errorf("token endpoint, cached client within max_stale: %d %s, want 200", r.status, r.raw)
	}
	unknownID := credential.NewClientID()
	if r := tokenCall(unknownID, credential.NewSecret()); r.status != 503 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
		t.Errorf("token endpoint, unknown client while the database is down: %d %s (Retry-After %q), want 503 temporarily_unavailable with Retry-After", r.status, r.raw, r.header.Get("Retry-After"))
	}
	time.Sleep(time.Until(stopped.Add(maxStale + notice)))
	if r := tokenCall(active.Client.ID, active.Secret); r.status != 503 || r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") == "" {
		t.Errorf("token endpoint, cached client past max_stale: %d %s (Retry-After %q), want 503 temporarily_unavailable with Retry-After", r.status, r.raw, r.header.Get("Retry-After"))
	}
	outage := maxStale + 1500*time.Millisecond
	if bouncer {
		// PgBouncer holds a query while it waits for a server, so a lookup
		// in the store ends at the gateway's lookup timeout (5 s): 503 then.
		outage += 5 * time.Second
	}
	time.Sleep(time.Until(stopped.Add(outage)))
	restartAt := time.Now()
	pg.start()
	t.Logf("pg_ctl start took %s", time.Since(restartAt).Round(time.Millisecond))

	// The feed recovers by itself: cached clients pass again.
	// Behind PgBouncer, after server_login_retry (15 s by default): it waits
	// that long before connecting again to a server that refused it.
	took := eventually(t, 30*time.Second, "the gateway serves again after the database is back", func() bool {
		return g.call("/mcp", bearer(tokActive)...).status == 200 && b.FeedSynced()
	})
	t.Logf("serving again %s after the start returned", took.Round(time.Millisecond))

	// Revoke a client, then a token, on the database (as another instance or
	// the CLI would), and note when this instance's feed applied each.
	revoke := func(what string, f func(ctx context.Context) error) (committed, applied time.Time) {
		t.Helper()
		before := b.Changes()
		var err error
		for range 5 { // the test's own pool may hold connections from before the restart
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = f(ctx)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("revoking the %s: %v", what, err)
		}
		committed = time.Now()
		eventually(t, 5*time.Second, "the feed applies the revoked "+what, func() bool { return b.Changes() > before })
		applied = time.Now()
		t.Logf("revoked %s applied by the feed %s after its commit", what, applied.Sub(committed).Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond) // load after it
		return committed, applied
	}
	_, doomedApplied := revoke("client", func(ctx context.Context) error {
		_, err := g.svc.Revoke(ctx, adminCLI(), doomed.Client.ID)
		return err
	})
	jti, exp := jtiOf(t, tokRevoked)
	_, tokenApplied := revoke("token", func(ctx context.Context) error {
		return g.store.RevokeToken(ctx, store.RevokedToken{JTI: jti, ClientID: active.Client.ID, ExpiresAt: exp})
	})
	stopLoad()

	var (
		wrongful                     int
		servedStale, unknown503      int
		refusedStale, refusedRevoked int
		slowest503                   time.Duration // an unknown client's refusal, while the database is down
	)
	// The trust ends no earlier than max_stale after the feed was last known
	// current. A listening feed counts from the start of its last round trip
	// that came back, which it makes at least every max_stale/2, so up to
	// that long before the stop. A polling one counts from the start of its
	// last poll that worked, an interval or so before the stop (more on a
	// busy machine).
	staleEnd := stopAt.Add(maxStale / 2)
	if feed != "" {
		staleEnd = stopAt.Add(maxStale - 500*time.Millisecond)
	}
	for _, r := range results {
		known := r.kind != "unknown"
		switch {
		case r.err != nil:
			t.Errorf("%s request at %s: %v", r.kind, r.start.Sub(stopAt), r.err)
		case r.end.Before(stopAt):
			want := 200
			if !known {
				want = 401
			}
			if r.status != want {
				t.Errorf("%s before the outage: %d, want %d", r.kind, r.status, want)
			}
		case r.start.After(stopped) && r.end.Before(restartAt):
			// The database is down.
			if r.status == 200 && (!known || r.start.After(stopped.Add(maxStale+notice))) {
				wrongful++
				t.Errorf("wrongful 200: %s request started %s after the stop (max_stale %s)", r.kind, r.start.Sub(stopped), maxStale)
				continue
			}
			if r.status == 503 && r.retryAfter == "" {
				t.Errorf("%s: 503 without Retry-After", r.kind)
			}
			switch {
			case !known:
				if r.status != 503 {
					t.Errorf("unknown client while the database is down: %d, want 503", r.status)
				}
				unknown503++
				slowest503 = max(slowest503, r.end.Sub(r.start))
			case r.end.Before(staleEnd.Add(-50 * time.Millisecond)):
				if r.status != 200 {
					t.Errorf("cached %s within max_stale of the stop (%s after it): %d, want 200", r.kind, r.start.Sub(stopAt), r.status)
				}
				servedStale++
			case r.start.After(stopped.Add(maxStale + notice)):
				if r.status != 503 {
					t.Errorf("cached %s past max_stale: %d, want 503", r.kind, r.status)
				}
				refusedStale++
			}
		}
		// After the feed applied a revocation, nothing it revoked passes.
		revokedAt := map[string]time.Time{"doomed": doomedApplied, "revoked_token": tokenApplied}[r.kind]
		if !revokedAt.IsZero() && r.start.After(revokedAt) {
			if r.status == 200 {
				wrongful++
				t.Errorf("wrongful 200: %s request started %s after its revocation was applied", r.kind, r.start.Sub(revokedAt))
			} else {
				refusedRevoked++
			}
		}
	}
	t.Logf("%d requests: %d cached ones served while the database was down (within max_stale), %d refused past it, %d unknown refused with 503 (the slowest in %s), %d revoked refused after the feed applied them; wrongful 200s: %d",
		len(results), servedStale, refusedStale, unknown503, slowest503.Round(time.Millisecond), refusedRevoked, wrongful)
	if servedStale == 0 || refusedStale == 0 || unknown503 == 0 || refusedRevoked == 0 {
		t.Errorf("the load missed a phase (served stale %d, refused stale %d, unknown 503 %d, revoked refused %d): every count must be above 0",
			servedStale, refusedStale, unknown503, refusedRevoked)
	}
	if wrongful != 0 {
		t.Errorf("wrongful 200s: %d, want 0", wrongful)
	}
}
