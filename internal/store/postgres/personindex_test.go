package postgres_test

import (
	"strings"
	"testing"

	"github.com/blnkfinance/blnk-auth-gateway/internal/testdb"
)

// TestPersonDeletesUseIndexes: revoking or deleting a client ends, in its
// transaction, the grants, codes and refresh tokens of the person who signed
// in with its key (DELETE ... WHERE person_id = $1). Each of those deletes
// must find its rows by an index on person_id, not scan its table while the
// client's row is held. The planner is told to avoid sequential scans, so a
// missing index shows as a Seq Scan in the plan.
func TestPersonDeletesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := open(t, testdb.New(t))
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET enable_seqscan`) }() // the connection goes back to the pool
	for _, table := range []string{"blnk_auth_grants", "blnk_auth_codes", "blnk_auth_refresh_tokens"} {
		rows, err := conn.Query(ctx, `EXPLAIN DELETE FROM `+table+` WHERE person_id = 'client:x'`)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if text := strings.Join(plan, "\n"); !strings.Contains(text, table+"_person") {
			t.Errorf("deleting a person's rows from %s does not use an index on person_id:\n%s", table, text)
		}
	}
}
