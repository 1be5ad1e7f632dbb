package web_test

import (
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
	// Replica B may reuse its earlier lookup for revocationRecheck. After
	// that, it reads the sign-out from the database.
	clk.Step(3 * time.Second)
	mustBeSignedOut(t, onB, "on replica B")

	// A sign-in on replica B works as before.
	onB.cookies = map[string]*http.Cookie{}
	onB.signIn()
	if r := onB.get("/clusters"); r.Status != http.StatusOK {
		t.Errorf("replica B after a new sign-in: status %d, want 200", r.Status)
	}
}

// waitSignedOut reads events until the signedout event, checks that the
// server then ends the stream, and returns the names of the events before
// signedout.
func (s *sseStream) waitSignedOut() []string {
	s.t.Helper()
	var before []string
	for ev := range s.events {
		if ev.Name == "signedout" {
			s.waitEnd()
			return before
		}
		before = append(before, ev.Name)
	}
	s.t.Fatalf("stream ended without a signedout event (events: %v, error: %v)", before, s.err)
	return nil
}

func TestSignOutEndsOpenStreams(t *testing.T) {
	b := startUI(t)
	cluster, _ := b.env.CreateCluster(t, "tokyo")
	s := b.openStream("/clusters/" + url.PathEscape(cluster.ID) + "/events")
	s.waitUpdate("the runners table", func(sseUpdate) bool { return true })

	signOutKeepingCookie(t, b)
	// The page learns that it was signed out, so it stops reconnecting.
	s.waitSignedOut()
}

func TestSessionExpiryEndsOpenStreams(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	b := startUI(t, cptest.WithClock(clk))
	s := b.openStream("/jobs/events")
	s.waitUpdate("the jobs table", func(sseUpdate) bool { return true })

	clk.Step(13 * time.Hour)
	s.waitSignedOut()
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
