package authserver_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/internal/authserver"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
)

// maxSecretTokenAllocs bounds a client_secret_basic token request's
// allocations through the Server (the recorder's and the request's
// included): private_key_jwt must not make the secret path heavier. It is
// 111 with private_key_jwt as without (BenchmarkTokenEndpoint agrees); the
// margin absorbs the odd allocation of the backend's own goroutines.
const maxSecretTokenAllocs = 115

// TestTokenEndpointSecretAllocs: the secret client's token request stays
// allocation-lean. (Run without -race by .ci/run's Alloc pass.)
func TestTokenEndpointSecretAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector; .ci/run runs this test without it")
	}
	f := newFixture(t, issuer)
	id, secret := f.client(t, store.TypeOAuth, "mcp:read")
	authz, body := basic(id, secret), "grant_type=client_credentials&scope=mcp%3Aread"
	for range 3 { // the client into the cache
		if w := f.post(authserver.TokenPath, authz, body); w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// AllocsPerRun counts every goroutine's allocations, the backend's too
	// (its change feed, its batched last-use writes): the least of a few
	// measurements is the request's own, however busy the machine.
	n := math.Inf(1)
	for range 5 {
		n = min(n, testing.AllocsPerRun(50, func() { f.post(authserver.TokenPath, authz, body) }))
	}
	t.Logf("%.0f allocations per secret token request", n)
	if n > maxSecretTokenAllocs {
		t.Errorf("%.0f allocations per secret token request, want at most %d", n, maxSecretTokenAllocs)
	}
}
