package caddymodule

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSecretPreviousTwoInstances: the README's procedure for changing the
// gateway's secret, on two gateway processes sharing one database (each store).
// B restarts with the new secret and the old one as secret_previous and seals
// the keys again under the new one; A, still running on the old config, keeps
// working (the keys themselves did not change), and tokens issued before work
// everywhere. A restarted with the old secret alone is refused, saying why;
// with the new one it starts.
func TestSecretPreviousTwoInstances(t *testing.T) {
	forEachStore(t, testSecretPreviousTwoInstances)
}

func testSecretPreviousTwoInstances(t *testing.T, kind string) {
	dsn := newDatabase(t, kind)
	const newSecret = "Zt4P8wq1Lr6yN2vC9xK3mB7hJ5gF0dS4aQ1eW8uI6oU="
	issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	a := startInstance(t, dsn, issuer)
	b := startInstance(t, dsn, issuer)
	c := cliJSON(t, dsn, a.config, "client", "create", "--name", "agent", "--scopes", "mcp:read")
	id, secret := c["client_id"].(string), c["client_secret"].(string)
	before := fetchToken(t, a.authURL, id, secret)

	restart := func(in *instance, env ...string) {
		_ = in.cmd.Process.Kill()
		_ = in.cmd.Wait()
		in.env = env
		in.run(t)
	}
	restart(b, "BLNK_AUTH_SECRET="+newSecret, "BLNK_AUTH_SECRET_PREVIOUS="+testSecret)
	after := fetchToken(t, b.authURL, id, secret)
	for name, in := range map[string]*instance{"a (old config, running)": a, "b (new secret)": b} {
		for tname, tok := range map[string]string{"before": before, "after": after} {
			if s := statusOf(t, in.apiURL, tok); s != 200 {
				t.Errorf("instance %s, token issued %s the roll: %d", name, tname, s)
			}
		}
	}

	// A restarted with the old secret alone does not start, and says why.
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	cmd := exec.Command(caddyBinary(t), "run", "--config", a.config, "--adapter", "caddyfile")
	cmd.Env = processEnv(dsn)
	done := make(chan []byte, 1)
	go func() { out, _ := cmd.CombinedOutput(); done <- out }()
	select {
	case out := <-done:
		if cmd.ProcessState.Success() || !strings.Contains(string(out), "same secret") {
			t.Errorf("the old secret alone after the roll: exit %v:\n%s", cmd.ProcessState, out)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("an instance with the old secret alone started after the roll")
	}

	restart(a, "BLNK_AUTH_SECRET="+newSecret)
	for tname, tok := range map[string]string{"before": before, "after": after} {
		if s := statusOf(t, a.apiURL, tok); s != 200 {
			t.Errorf("instance a with the new secret, token issued %s the roll: %d", tname, s)
		}
	}
}
