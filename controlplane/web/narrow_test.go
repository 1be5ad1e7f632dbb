package web_test

import (
	"regexp"
	"testing"

	"github.com/ferryhq/ferry/protocol"
)

// optionalCell matches a table cell that a narrow screen hides.
var optionalCell = regexp.MustCompile(`<t[hd][^>]*class="[^"]*col-optional`)

// TestNarrowScreenKeepsKeyColumns checks which columns app.css may hide
// under 40rem: the less important ones, never the state or the actions.
func TestNarrowScreenKeepsKeyColumns(t *testing.T) {
	e := newJobsEnv(t)
	e.run(protocol.JobTransfer)

	jobs := e.b.get("/jobs").Body
	// Cluster, type, rows, bytes, created and duration, in head and body.
	if n := len(optionalCell.FindAllString(jobs, -1)); n != 12 {
		t.Errorf("jobs table has %d optional cells, want 12; page:\n%s", n, jobs)
	}
	mustContain(t, jobs, `<th scope="col">State</th>`)

	cluster := e.b.get("/clusters/tokyo").Body
	// Tokens: created. Runners: version, capacity, free slots, joined.
	if n := len(optionalCell.FindAllString(cluster, -1)); n != 10 {
		t.Errorf("cluster page has %d optional cells, want 10; page:\n%s", n, cluster)
	}
	mustContain(t, cluster, `<th>State</th>`, `<th>Last heartbeat</th>`, `<button type="submit" class="danger">Revoke</button>`)
}
