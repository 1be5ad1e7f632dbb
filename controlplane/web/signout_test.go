package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// signOutKeepingCookie signs b out and returns the session cookie it had,
// as an attacker who copied it would keep it.
func signOutKeepingCookie(t *testing.T, b *browser) *http.Cookie {
	t.Helper()
	cookie := b.cookies["ferry_session"]
	if cookie == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if r := b.post("/signout", nil); r.Status != http.StatusSeeOther || r.Location != "/signin?notice=signedout" {
		t.Fatalf("sign-out: status %d location %q, want 303 to /signin?notice=signedout", r.Status, r.Location)
	}
	return cookie
}

// mustBeSignedOut checks that b's cookie no longer opens a page.
func mustBeSignedOut(t *testing.T, b *browser, when string) {
	t.Helper()
	r := b.get("/clusters")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/signin") {
		t.Errorf("%s: GET /clusters with the signed-out cookie: status %d location %q, want 303 to /signin", when, r.Status, r.Location)
	}
}

func TestSignOutSurvivesRestart(t *testing.T) {
	b := startUI(t)
	cookie := signOutKeepingCookie(t, b)
	b.cookies[cookie.Name] = cookie
	mustBeSignedOut(t, b, "before the restart")

	b.env.Restart()
	mustBeSignedOut(t, b, "after the restart")
}

func TestSignOutSharedByReplicas(t *testing.T) {
	pg := testdb.Postgres(t)
	dsn := pg.DSN(pg.NewDatabase(t))
	clk := testingclock.NewFakeClock(time.Now())
	a := cptest.Start(t, cptest.WithDSN(dsn), cptest.WithClock(clk))
	other := cptest.Start(t, cptest.WithDSN(dsn), cptest.WithClock(clk), cptest.WithEncryptionKey(a.EncryptionKey),
		cptest.WithAdminToken(a.AdminToken))

	onA := newBrowser(t, a)
	onA.signIn()
	onB := newBrowser(t, other)
	onB.cookies = onA.cookies
	onB.csrf = onA.csrf
	if r := onB.get("/clusters"); r.Status != http.StatusOK {
		t.Fatalf("replica B with replica A's session: status %d, want 200", r.Status)
	}

	cookie := signOutKeepingCookie(t, onA)
	onB.cookies = map[string]*http.Cookie{cookie.Name: cookie}
	// Replica B may reuse its earlier lookup for a short while; past that
	// bound, it sees the sign-out.
	clk.Step(3 * time.Second)
	mustBeSignedOut(t, onB, "on replica B")

	// A sign-in on replica B works as before.
	onB.cookies = map[string]*http.Cookie{}
	onB.signIn()
	if r := onB.get("/clusters"); r.Status != http.StatusOK {
		t.Errorf("replica B after a new sign-in: status %d, want 200", r.Status)
	}
}

func TestSignOutEndsOpenStreams(t *testing.T) {
	b := startUI(t)
	cluster, _ := b.env.CreateCluster(t, "tokyo")
	// The timeout only keeps a stream that never ends from hanging the
	// test; the test fails if it is what ends the stream.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/clusters/"+url.PathEscape(cluster.ID)+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	lines := bufio.NewReader(resp.Body)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before its first update: %v", err)
		}
		if strings.HasPrefix(line, "event: update") {
			break
		}
	}

	signOutKeepingCookie(t, b)
	_, err = io.Copy(io.Discard, lines)
	if ctx.Err() != nil {
		t.Fatal("the stream stayed open after the sign-out")
	}
	if err != nil {
		t.Errorf("stream ended with %v, want a clean end", err)
	}
}

func TestSignOutShowsNotice(t *testing.T) {
	b := startUI(t)
	r := b.post("/signout", nil)
	if r.Status != http.StatusSeeOther || r.Location != "/signin?notice=signedout" {
		t.Fatalf("sign-out: status %d location %q, want 303 to /signin?notice=signedout", r.Status, r.Location)
	}
	page := b.get(r.Location)
	mustContain(t, page.Body, `id="signin-notice"`, "You have signed out.")
	b.lang = "ja"
	mustContain(t, b.get(r.Location).Body, "サインアウトしました。")
	// Only that notice: another value shows nothing.
	mustNotContain(t, b.get("/signin?notice=%3Cb%3E").Body, `id="signin-notice"`)
}
