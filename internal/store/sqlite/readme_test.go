package sqlite

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestREADMEStatesPollDelay: README.md tells what a revocation made outside
// the running server (the CLI) costs on this store: it is seen at the next
// poll of the change log, so requests in between still pass. The README
// must give the poll interval this package uses, and its Run section, whose
// demo runs on this store, must not promise that the CLI's revocation bites
// "at once".
func TestREADMEStatesPollDelay(t *testing.T) {
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if want := fmt.Sprintf("every %d ms", pollInterval.Milliseconds()); !strings.Contains(readme, want) {
		t.Errorf("README.md does not say that the embedded store polls %q", want)
	}
	start, end := strings.Index(readme, "\n## Run\n"), strings.Index(readme, "\n## Test\n")
	if start < 0 || end < start {
		t.Fatal("README.md has no Run section followed by Test")
	}
	if run := readme[start:end]; strings.Contains(run, "at once") {
		t.Errorf("README.md's Run section, on the embedded store, says a revocation bites \"at once\"")
	}
}
