//go:build cluster

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/internal/testdb"
)

// TestWebUI drives the whole flow through the control plane's web UI in headless Chromium:
// sign-in, a cluster and its registration token, the runner joining, connections, a
// configuration, a preview, a transfer job, a cancelled job and both languages. The test acts
// outside the browser only where an admin uses kubectl (the token Secret and the
// TransferRunner), to set up the databases, and to check the rows the job wrote.
//
// With FERRY_SCREENSHOTS=<dir> (relative to the repository root) it saves full-page PNGs of
// the main pages as <dir>/webui-<page>-<language>.png.
func TestWebUI(t *testing.T) {
	s := newScenario(t, "webui")
	b := newBrowser(t, "en")
	source := newDatabase(t, testdb.MariaDB(t))
	destination := newDatabase(t, testdb.SecondMariaDB(t))
	// Enough rows for the slow query below to last about a minute, with a progress sample
	// every few seconds.
	const rows = 60000
	source.createOrders(t, rows)
	clusterName := s.namespace

	// Sign in: the first page redirects to the sign-in form and back.
	b.open("/clusters", "#token")
	b.screenshot("signin-en")
	b.fill(map[string]string{"#token": sys.adminToken})
	b.click("main form button[type=submit]", "#cluster-form")
	if loc := b.location(); !strings.HasSuffix(loc, "/clusters") {
		t.Errorf("after sign-in the browser is at %s, want the page it requested, /clusters", loc)
	}

	// A cluster name with a space is rejected on the form, and nothing is stored.
	b.fill(map[string]string{"#cluster-name": "bad name!"})
	if status := b.submit("#cluster-create", "#cluster-form"); status != http.StatusUnprocessableEntity {
		t.Errorf("invalid cluster name: status %d, want %d", status, http.StatusUnprocessableEntity)
	}
	if msg := b.text("#cluster-form .field-error .message"); msg == "" {
		t.Errorf("invalid cluster name: the form shows no message next to the field")
	}
	if got := b.value("#cluster-name"); got != "bad name!" {
		t.Errorf("invalid cluster name: the form shows %q, want the value typed, %q", got, "bad name!")
	}
	clusters, err := sys.admin.ListClusters(bg(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		if c.Name == "bad name!" {
			t.Errorf("invalid cluster name was stored: %+v", c)
		}
	}

	// Create the cluster, then a registration token, and read the token from the page.
	b.fill(map[string]string{"#cluster-name": clusterName})
	b.click("#cluster-create", "#token-create")
	b.click("#token-create", "#token-value")
	token := b.value("#token-value")
	if !strings.HasPrefix(token, "ferry_") {
		t.Fatalf("token box shows %q, want a registration token", token)
	}
	if cmd := b.text("#kubectl-command"); !strings.Contains(cmd, token) {
		t.Errorf("kubectl command does not contain the token:\n%s", cmd)
	}
	if cmd := b.text("#helm-command"); !strings.Contains(cmd, "helm upgrade --install") {
		t.Errorf("helm command is not a helm upgrade --install line:\n%s", cmd)
	}
	b.screenshot("cluster-token-en")

	// Install the runner as an admin would with kubectl, and watch it join on the cluster page.
	b.open("/clusters/"+clusterName, "#runners")
	if strings.Contains(b.visibleText(), token) {
		t.Errorf("cluster page shows the token again after it was created")
	}
	b.markPage()
	s.installRunner("webui", admin.Cluster{Name: clusterName}, token, runnerOptions{maxConcurrentJobs: 2})
	b.waitFor("runner IDLE on the cluster page",
		`!!document.querySelector('#runners [data-runner] [data-state="IDLE"]')`, runnerTimeout)
	b.checkSamePage("the runner joining")
	b.screenshot("cluster-en")
	b.open("/clusters", "#clusters")
	b.waitText(fmt.Sprintf(`#clusters [data-cluster=%q]`, clusterName), clusterName, pageTimeout)
	b.screenshot("clusters-en")

	// Connections to the two MariaDB databases.
	for i, c := range []struct {
		name string
		db   *database
	}{{clusterName + "-source", source}, {clusterName + "-destination", destination}} {
		b.open("/connections/new", "#connection-form")
		b.choose("#conn-type", "mysql")
		b.fill(map[string]string{
			"#conn-name": c.name, "#conn-host": c.db.srv.Host(), "#conn-port": strconv.Itoa(c.db.srv.Port()),
			"#conn-database": c.db.name, "#conn-user": c.db.srv.User(), "#conn-password": c.db.srv.Password(),
		})
		if i == 0 {
			b.screenshot("connection-en")
		}
		b.click("#connection-save", fmt.Sprintf(`#connections [data-connection=%q]`, c.name))
	}

	// A configuration that copies the orders, and a preview of it.
	// The query pauses now and then, so that the job lasts long enough for a few progress
	// samples and the job page has a chart at the end.
	configPath := b.createConfig(configForm{
		name: clusterName + "-orders", cluster: clusterName,
		source: clusterName + "-source", query: pausingOrdersQuery(2000, 500*time.Millisecond),
		destination: clusterName + "-destination", destTable: "orders", mode: "replace",
	})
	b.screenshot("config-en")
	b.click("#config-preview", "#job-summary")
	b.waitFor("preview rows", `document.querySelectorAll("#preview-rows tbody tr").length > 0`, jobTimeout)
	for _, column := range []string{"id", "customer", "unit_price", "ordered_at", "note"} {
		if cols := b.text("#preview-columns"); !strings.Contains(cols, column) {
			t.Errorf("preview columns do not list %s: %q", column, cols)
		}
	}
	if first := b.text("#preview-rows tbody tr"); !strings.Contains(first, "customer-") {
		t.Errorf("first preview row %q does not look like an orders row", first)
	}
	b.waitFor("preview succeeded", `!!document.querySelector('#job-state [data-state="succeeded"]')`, jobTimeout)
	b.screenshot("preview-en")

	// Run the configuration and follow the job page live to success.
	b.open(configPath, "#config-run")
	b.click("#config-run", "#job-summary")
	jobID := jobIDFromURL(t, b.location())
	b.markPage()
	b.waitFor("job succeeded", `!!document.querySelector('#job-state [data-state="succeeded"]')`, jobTimeout)
	b.waitText("#job-rows", "60,000", pageTimeout)
	b.waitFor("log lines", `document.querySelectorAll("#log > *").length > 0`, pageTimeout)
	b.waitFor("chart of the job", `!!document.querySelector("svg#job-chart")`, pageTimeout)
	b.checkSamePage("the job's progress to success")
	if b.exists("#job-cancel") {
		t.Errorf("the succeeded job %s still offers a cancel button", jobID)
	}
	b.screenshot("job-en")
	sameRows(t, destination.orderRows(t, "orders"), source.orderRows(t, "orders"))

	// A slow job: watch it run, see the runner ACTIVE on the cluster page, and cancel it.
	watch := b.newTab("cluster-watch")
	watch.open("/clusters/"+clusterName, `#runners [data-runner] [data-state="IDLE"]`)
	watch.markPage()
	slowPath := b.createConfig(configForm{
		name: clusterName + "-slow", cluster: clusterName,
		source: clusterName + "-source", query: slowOrdersQuery(time.Millisecond),
		destination: clusterName + "-destination", destTable: "orders_slow", mode: "replace",
	})
	b.open(slowPath, "#config-run")
	b.click("#config-run", "#job-summary")
	slowJobID := jobIDFromURL(t, b.location())
	b.markPage()
	b.waitFor("slow job running", `!!document.querySelector('#job-state [data-state="running"]')`, jobTimeout)
	watch.waitFor("runner ACTIVE on the cluster page",
		`!!document.querySelector('#runners [data-runner] [data-state="ACTIVE"]')`, runnerTimeout)
	watch.checkSamePage("the runner becoming ACTIVE")
	// Two batches of rows, so that the chart has a few samples to show.
	b.waitFor("rows of the slow job", `parseInt(document.querySelector("#job-rows").textContent.replace(/[^0-9]/g, ""), 10) > 10000`, jobTimeout)
	b.waitFor("chart of the slow job", `!!document.querySelector("svg#job-chart")`, jobTimeout)
	b.checkSamePage("the slow job's progress")
	b.screenshot("job-running-en")
	b.click("#job-cancel", "#job-summary")
	b.waitFor("slow job cancelled", `!!document.querySelector('#job-state [data-state="cancelled"]')`, jobTimeout)
	if final := s.waitJob(slowJobID); final.State != "cancelled" {
		t.Errorf("control plane reports job %s as %s, want cancelled", slowJobID, final.State)
	}
	watch.waitFor("runner IDLE again on the cluster page",
		`!!document.querySelector('#runners [data-runner] [data-state="IDLE"]')`, runnerTimeout)

	// The jobs list has both jobs.
	b.open("/jobs", "#jobs")
	for _, id := range []string{jobID, slowJobID} {
		b.do("find job "+id+" in the list", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#jobs [data-job=%q]`, id))))
	}
	b.screenshot("jobs-en")

	// The language switch turns the pages Japanese and stays on.
	b.click("#lang-ja", "html[lang=ja]")
	if nav := b.text("header nav"); !strings.Contains(nav, "ジョブ") || !strings.Contains(nav, "クラスター") {
		t.Errorf("navigation after switching to Japanese reads %q", nav)
	}
	b.open("/clusters/"+clusterName, `html[lang=ja] #runners [data-runner]`)
	b.screenshot("cluster-ja")
	b.open("/jobs/"+jobID, `html[lang=ja] #job-summary`)
	if state := b.text("#job-state"); !strings.Contains(state, "成功") {
		t.Errorf("job state in Japanese reads %q, want 成功 in it", state)
	}
	b.screenshot("job-ja")
	b.open("/jobs", `html[lang=ja] #jobs`)
	b.screenshot("jobs-ja")

	// A browser that requests Japanese gets Japanese before it signs in.
	fresh := b.newContext("fresh-ja", "ja,en;q=0.5")
	fresh.open("/clusters", "html[lang=ja] #token")
	if title := fresh.text("main h1"); title != "サインイン" {
		t.Errorf("sign-in page for Accept-Language ja has title %q, want サインイン", title)
	}
	fresh.screenshot("signin-ja")
	fresh.fill(map[string]string{"#token": sys.adminToken})
	fresh.click("main form button[type=submit]", "html[lang=ja] #cluster-form")
}

// pausingOrdersQuery returns a MariaDB SELECT of every row of orders that pauses before every
// nth row, so that a job reading it lasts about rows/every times pause while most rows flow
// at full speed.
func pausingOrdersQuery(every int, pause time.Duration) string {
	return fmt.Sprintf("SELECT id, customer, quantity, unit_price, ordered_at, note FROM orders WHERE id %% %d <> 0 OR SLEEP(%g) = 0",
		every, pause.Seconds())
}

// configForm is what TestWebUI types into the configuration form.
type configForm struct {
	name, cluster          string
	source, table, query   string
	destination, destTable string
	mode                   string
}

// createConfig fills in and saves the new-configuration form and returns the path of the
// configuration's page.
func (b *browser) createConfig(f configForm) string {
	b.t.Helper()
	b.open("/configs/new", "#config-form")
	b.fill(map[string]string{"#cfg-name": f.name, "#cfg-dest-table": f.destTable})
	b.choose("#cfg-cluster", f.cluster)
	b.choose("#cfg-source-connection", f.source)
	b.choose("#cfg-dest-connection", f.destination)
	b.choose("#cfg-mode", f.mode)
	if f.query != "" {
		b.fill(map[string]string{"#cfg-source-query": f.query})
	} else {
		b.fill(map[string]string{"#cfg-source-table": f.table})
	}
	b.click("#config-save", "#config-run")
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

// jobIDFromURL returns the job ID of a /jobs/<id> page's URL.
func jobIDFromURL(t *testing.T, location string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(u.Path, "/jobs/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("browser is at %s, want a job page /jobs/<id>", location)
	}
	return id
}
