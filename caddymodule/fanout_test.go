package caddymodule

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blnkfinance/blnk-auth-gateway/admin"
	"github.com/blnkfinance/blnk-auth-gateway/internal/store"
	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestFanoutRevocation: N gateway processes on one PostgreSQL database,
// under load through all of them, while clients are revoked (as the CLI
// does, straight in the database) and tokens revoked (RFC 7009, at one of
// the instances), one after another. For each revocation every instance is
// polled with the revoked credential until it refuses it; the load keeps
// sending the revoked credentials to every instance afterwards. No request
// sent to an instance after that instance refused the credential may be
// accepted: the test fails on any. How long the refusal took to reach every
// instance is logged, never asserted (BENCHMARKS.md has the figures, and
// caddymodule/testdata/fanout/run.sh measures N = 2, 4, 8).
//
// Environment (all optional): BLNK_FANOUT_N, instance counts separated by
// commas (default 2); BLNK_FANOUT_REVOCATIONS per count (default 10, half of
// them clients, half tokens); BLNK_FANOUT_LOAD, load goroutines (default 8);
// BLNK_FANOUT_WRK=1 adds one wrk per instance (-t1 -c4) sending a background
// client's token, whose requests must all pass; BLNK_FANOUT_WRK_NICE runs
// those wrk processes at that nice level (default 0), so that the load
// generator, which in service runs on other machines, can be made to yield
// the cores to the gateways and the database. BLNK_FANOUT_GOMAXPROCS sets
// GOMAXPROCS in every gateway process, as a container's CPU limit does (Go
// derives GOMAXPROCS from it): eight instances sharing two cores would each
// get a quarter of a core.
func TestFanoutRevocation(t *testing.T) {
	counts := envInts(t, "BLNK_FANOUT_N", []int{2})
	revocations := envInts(t, "BLNK_FANOUT_REVOCATIONS", []int{10})[0]
	load := envInts(t, "BLNK_FANOUT_LOAD", []int{8})[0]
	caddyBinary(t)
	for _, n := range counts {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) { fanout(t, n, revocations, load) })
	}
}

func envInts(t *testing.T, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want positive integers separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}

// fanVictim is a credential about to be revoked.
type fanVictim struct {
	token      string
	clientID   string
	secret     string
	revokeTok  bool        // RFC 7009 revocation of the token, else the client is revoked
	refusedAt  []time.Time // per instance: when its first refusal came back
	acked      time.Time   // when the revocation call returned
	started    time.Time   // when the revocation call was made
	accepted   atomic.Int64
	afterCount atomic.Int64 // load requests sent after their instance refused
}

// fanResponse is one load request with a victim's token.
type fanResponse struct {
	victim, instance int
	sent             time.Time
	status           int
}

func fanout(t *testing.T, n, revocations, workers int) {
	dsn := testdb.New(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	instances := make([]*instance, n)
	metricsURLs := make([]string, n)
	var wg sync.WaitGroup
	for i := range instances {
		// The process tests' config, with Caddy's metrics on a port of their own.
		authPort, apiPort, metricsPort := freePort(t), freePort(t), freePort(t)
		in := &instance{
			authURL: fmt.Sprintf("http://127.0.0.1:%d", authPort),
			apiURL:  fmt.Sprintf("http://127.0.0.1:%d", apiPort),
			config:  writeConfig(t, issuer, authPort, apiPort),
			dsn:     dsn,
		}
		if v := os.Getenv("BLNK_FANOUT_GOMAXPROCS"); v != "" {
			in.env = append(in.env, "GOMAXPROCS="+v)
		}
		f, err := os.OpenFile(in.config, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(f, "http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}\n", metricsPort)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		instances[i], metricsURLs[i] = in, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
		wg.Go(func() { in.run(t) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	st, err := openTestStore(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &admin.Service{Store: st}

	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * workers, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}
	defer httpc.CloseIdleConnections()
	status := func(i int, tok string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, instances[i].apiURL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	newClient := func(name string) (id, secret string) {
		c, err := svc.Create(t.Context(), admin.CLI, admin.CreateParams{Name: name, Type: store.TypeOAuth, Scopes: []string{"mcp:read"}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Client.ID, c.Secret
	}

	// Background clients keep every instance busy with requests that pass.
	var background []string
	for i := range 4 {
		id, secret := newClient(fmt.Sprintf("background %d", i))
		background = append(background, fetchToken(t, instances[i%n].authURL, id, secret))
	}
	victims := make([]*fanVictim, revocations)
	for i := range victims {
		id, secret := newClient(fmt.Sprintf("victim %d", i))
		v := &fanVictim{clientID: id, secret: secret, revokeTok: i%2 == 1, refusedAt: make([]time.Time, n)}
		v.token = fetchToken(t, instances[i%n].authURL, id, secret)
		for j := range instances {
			if s, err := status(j, v.token); err != nil || s != 200 {
				t.Fatalf("victim %d before its revocation at instance %d: %d %v", i, j, s, err)
			}
		}
		victims[i] = v
	}

	// The load: each request goes to the next instance with a background
	// token or the token of the current victim or one of the last revoked.
	var current atomic.Int64 // index of the victim being revoked
	var (
		respMu    sync.Mutex
		responses []fanResponse
		requests  atomic.Int64
		errs      atomic.Int64
	)
	ctx, stop := context.WithCancel(t.Context())
	var loadWG sync.WaitGroup
	for w := range workers {
		loadWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var mine []fanResponse
			for i := w; ctx.Err() == nil; i++ {
				inst := i % n
				victim := -1
				tok := background[rng.IntN(len(background))]
				if rng.IntN(2) == 0 {
					cur := int(current.Load())
					victim = max(0, cur-rng.IntN(4))
					tok = victims[victim].token
				}
				sent := time.Now()
				s, err := status(inst, tok)
				requests.Add(1)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				if victim >= 0 {
					mine = append(mine, fanResponse{victim, inst, sent, s})
				} else if s != 200 {
					errs.Add(1)
				}
			}
			respMu.Lock()
			responses = append(responses, mine...)
			respMu.Unlock()
		})
	}
	var wrks []*wrkRun
	if os.Getenv("BLNK_FANOUT_WRK") == "1" {
		for j, in := range instances {
			wrks = append(wrks, startWrk(t, in.apiURL+"/", background[j%len(background)]))
		}
	}
	loadBefore := loadAverage()
	runStart := time.Now()

	for i, v := range victims {
		current.Store(int64(i))
		time.Sleep(50 * time.Millisecond) // the load sends the victim's token before its revocation too
		v.started = time.Now()
		if v.revokeTok {
			// At one instance; the others learn it through the change feed.
			at := instances[(i+1)%n]
			r := revokeAt(t, httpc, at.authURL, v.clientID, v.secret, v.token)
			if r != 200 {
				t.Fatalf("RFC 7009 revocation: %d", r)
			}
		} else if _, err := svc.Revoke(t.Context(), admin.CLI, v.clientID); err != nil {
			t.Fatal(err)
		}
		v.acked = time.Now()
		// Poll every instance until it refuses.
		var pollWG sync.WaitGroup
		for j := range instances {
			pollWG.Go(func() {
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					s, err := status(j, v.token)
					if err == nil && s == 401 {
						v.refusedAt[j] = time.Now()
						return
					}
				}
			})
		}
		pollWG.Wait()
		for j, at := range v.refusedAt {
			if at.IsZero() {
				t.Fatalf("instance %d still accepts victim %d 10s after its revocation", j, i)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // the last victim's token keeps being sent after its refusal
	stop()
	loadWG.Wait()
	elapsed := time.Since(runStart)
	loadAfter := loadAverage()
	wrkRequests := 0
	for _, w := range wrks {
		wrkRequests += w.stop(t)
	}

	// Judge every response with a victim's token against its instance's
	// first refusal.
	accepted := 0
	for _, r := range responses {
		v := victims[r.victim]
		if r.status == 200 {
			v.accepted.Add(1)
		}
		if at := v.refusedAt[r.instance]; r.sent.After(at) {
			v.afterCount.Add(1)
			if r.status == 200 {
				accepted++
				t.Errorf("victim %d (%s): instance %d accepted a request sent %s after it refused the credential", r.victim, kindOf(v), r.instance, r.sent.Sub(at))
			}
		}
	}
	var all, clients, tokens []time.Duration
	var fromCall []time.Duration
	sentAfter := int64(0)
	for _, v := range victims {
		d := slices.MaxFunc(v.refusedAt, func(a, b time.Time) int { return a.Compare(b) }).Sub(v.acked)
		all = append(all, d)
		fromCall = append(fromCall, d+v.acked.Sub(v.started))
		if v.revokeTok {
			tokens = append(tokens, d)
		} else {
			clients = append(clients, d)
		}
		sentAfter += v.afterCount.Load()
	}
	if sentAfter == 0 {
		t.Error("the load sent no revoked credential after its refusal: the test judged nothing")
	}
	if errs.Load() > 0 {
		t.Errorf("%d load requests failed or a background token was refused", errs.Load())
	}
	time.Sleep(1200 * time.Millisecond) // each instance measures the lag of the changes it applied once a second
	lag := scrapeLag(t, metricsURLs)
	t.Logf("FANOUT N=%d revocations=%d (clients %d, tokens %d) load=%d goroutines and %d wrk (%d requests, %.0f/s): %d requests in %s (%.0f/s); "+
		"every instance refused, after the revocation returned: p50 %s p99 %s max %s (clients: %s; tokens: %s); from the call: p50 %s p99 %s max %s; "+
		"requests with a revoked credential sent after their instance refused it: %d, accepted: %d; %s; load average %s before, %s after",
		n, len(victims), len(clients), len(tokens), workers, len(wrks), wrkRequests, float64(wrkRequests)/elapsed.Seconds(), requests.Load(), elapsed.Round(time.Millisecond), float64(requests.Load())/elapsed.Seconds(),
		pct(all, 50), pct(all, 99), pct(all, 100), summary(clients), summary(tokens), pct(fromCall, 50), pct(fromCall, 99), pct(fromCall, 100),
		sentAfter, accepted, lag, loadBefore, loadAfter)
}

func kindOf(v *fanVictim) string {
	if v.revokeTok {
		return "token revoked"
	}
	return "client revoked"
}

// revokeAt revokes tok at the RFC 7009 endpoint of authURL.
func revokeAt(t *testing.T, c *http.Client, authURL, id, secret, tok string) int {
	req, _ := http.NewRequest(http.MethodPost, authURL+"/oauth/revoke", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(10 * time.Microsecond)
}

func summary(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s p99 %s max %s", pct(ds, 50), pct(ds, 99), pct(ds, 100))
}

// loadAverage is the machine's 1, 5 and 15 minute load averages: the
// machine is shared, and a figure means little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// wrkRun is a wrk process sending one token to one URL until stopped.
type wrkRun struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startWrk(t *testing.T, url, tok string) *wrkRun {
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("BLNK_FANOUT_WRK=1 needs wrk (apt-get install wrk): %v", err)
	}
	w := &wrkRun{out: new(syncBuffer)}
	args := []string{path, "-t1", "-c4", "-d1h", "-H", "Authorization: Bearer " + tok, url}
	if n := os.Getenv("BLNK_FANOUT_WRK_NICE"); n != "" && n != "0" {
		nice, err := exec.LookPath("nice")
		if err != nil {
			t.Fatalf("BLNK_FANOUT_WRK_NICE needs nice: %v", err)
		}
		args = append([]string{nice, "-n", n}, args...)
	}
	w.cmd = exec.Command(args[0], args[1:]...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.cmd.Process.Kill(); _ = w.cmd.Wait() })
	return w
}

// stop interrupts wrk, which then prints its summary, and returns the
// number of requests it made; a refused one or a socket error fails the test.
func (w *wrkRun) stop(t *testing.T) int {
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	_ = w.cmd.Wait()
	out := w.out.String()
	if strings.Contains(out, "Non-2xx") || strings.Contains(out, "Socket errors") {
		t.Errorf("wrk with a valid token got errors:\n%s", out)
	}
	m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("wrk printed no summary:\n%s", out)
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// scrapeLag sums the change-feed lag histograms of every instance's
// /metrics and says how many changes were measured and the bucket bounds
// their p50 and p99 fall under.
func scrapeLag(t *testing.T, urls []string) string {
	buckets := map[float64]float64{} // upper bound → cumulative count over all instances
	for _, u := range urls {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("scraping %s: %v", u, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range regexp.MustCompile(`(?m)^caddy_blnk_auth_change_feed_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$`).FindAllStringSubmatch(string(body), -1) {
			le, err1 := strconv.ParseFloat(m[1], 64)
			n, err2 := strconv.ParseFloat(m[2], 64)
			if err1 != nil || err2 != nil {
				t.Errorf("lag bucket %q", m[0])
				continue
			}
			buckets[le] += n
		}
	}
	bounds := slices.Sorted(maps.Keys(buckets))
	if len(bounds) == 0 {
		t.Error("no change-feed lag histogram on /metrics")
		return "change-feed lag: none"
	}
	total := buckets[bounds[len(bounds)-1]]
	under := func(q float64) string {
		for _, b := range bounds {
			if buckets[b] >= q*total {
				return fmt.Sprintf("≤ %gs", b)
			}
		}
		return "?"
	}
	return fmt.Sprintf("change-feed lag (metrics, %g changes applied over all instances): p50 %s, p99 %s", total, under(0.5), under(0.99))
}
