//go:build cluster

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPackage is the Debian package that installs the browser the web UI tests drive.
const chromiumPackage = "chromium"

// Bounds of the browser waits. They keep a broken page from hanging the suite and are not
// performance expectations.
const (
	// pageTimeout bounds one page action: a navigation, a click, a wait for an element.
	pageTimeout = time.Minute
	// screenshotWidth and screenshotHeight are the window size, so that screenshots are 1280
	// pixels wide.
	screenshotWidth  = 1280
	screenshotHeight = 900
)

// chromiumPath returns the path of the Chromium binary. Without it the test is skipped, or
// fails when the CI variable is set, so that a CI run never passes by skipping.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("the web UI tests need Chromium: install the Debian package %s "+
		"(apt-get install --no-install-recommends %s fonts-noto-cjk)", chromiumPackage, chromiumPackage)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; with CI set, the test fails instead")
	return ""
}

// browser is one tab of a headless Chromium with its own cookies, pointed at the control plane.
type browser struct {
	t *testing.T
	// ctx is the tab's chromedp context. Actions run with a child context that bounds them.
	ctx     context.Context
	baseURL string
	// shotDir is where screenshots go, from FERRY_SCREENSHOTS; empty for none.
	shotDir string
	// label names the browser in failure files, such as "main".
	label string
}

// newBrowser starts a headless Chromium that stops when the test ends, and returns its first
// tab. Requests carry Accept-Language acceptLanguage.
//
// The flags keep the browser off the network: no component or safe-browsing updates, no sync,
// no QUIC and no metrics or crash uploads. The host resolver resolves no name, so the only
// address the browser reaches is the control plane's 127.0.0.1 literal. chromedp's
// DefaultExecAllocatorOptions are not used because they are a general-purpose list.
func newBrowser(t *testing.T, acceptLanguage string) *browser {
	t.Helper()
	path := chromiumPath(t)

	logFile, err := os.Create(filepath.Join(sys.workDir, "chromium-"+sanitize(t.Name())+".log"))
	if err != nil {
		t.Fatalf("failed to create the Chromium log: %v", err)
	}
	t.Cleanup(func() { logFile.Close() })

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(screenshotWidth, screenshotHeight),
		chromedp.CombinedOutput(logFile),
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)

	// The first action starts the browser, which lives as long as ctx, not as long as this call.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("failed to start Chromium %s: %v; its output is in %s", path, err, logFile.Name())
	}
	return setUpTab(t, ctx, "main", acceptLanguage)
}

// newContext returns a tab in a new browser context of the same browser: no cookies, as a
// browser that has never visited the control plane.
func (b *browser) newContext(label, acceptLanguage string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("failed to open a new browser context: %v", err)
	}
	return setUpTab(b.t, ctx, label, acceptLanguage)
}

// setUpTab sets the tab's Accept-Language, accepts every confirm prompt and saves the page when
// the test fails. The UI shows a confirm prompt before it cancels a job or revokes a token.
func setUpTab(t *testing.T, ctx context.Context, label, acceptLanguage string) *browser {
	t.Helper()
	b := &browser{t: t, ctx: ctx, baseURL: sys.controlPlaneURL, label: label, shotDir: screenshotDir()}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": acceptLanguage}})
	if err != nil {
		t.Fatalf("failed to set Accept-Language: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Logf("browser %s: accepting prompt %q", label, ev.Message)
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				t.Logf("browser %s: failed to accept prompt: %v", label, err)
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b.saveFailure()
		}
	})
	return b
}

// screenshotDir returns the directory that FERRY_SCREENSHOTS names, relative to the repository
// root, or "" when it is unset.
func screenshotDir() string {
	dir := os.Getenv("FERRY_SCREENSHOTS")
	if dir == "" || filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(sys.repoRoot, dir)
}

// do runs actions with a bounded context and fails the test with what on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser %s: failed to %s: %v (page %s)", b.label, what, err, b.location())
	}
}

// open loads path on the control plane and waits until the element ready is visible.
func (b *browser) open(path, ready string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.baseURL+path), chromedp.WaitVisible(chromedp.CSS(ready)))
}

// click clicks an element that loads a new page, such as a submit button or a link, waits
// for that page's load event and then until the element ready is visible.
func (b *browser) click(sel, ready string) {
	b.t.Helper()
	b.loadAfter("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	b.do("wait for "+ready+" after clicking "+sel, chromedp.WaitVisible(chromedp.CSS(ready)))
}

// submit clicks an element that posts a form and returns the HTTP status of the page the
// browser ends on, once its element ready is visible.
func (b *browser) submit(sel, ready string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser %s: failed to click %s: %v (page %s)", b.label, sel, err, b.location())
	}
	b.do("wait for "+ready+" after clicking "+sel, chromedp.WaitVisible(chromedp.CSS(ready)))
	return resp.Status
}

// loadAfter runs trigger and waits for the load event of the page it opens. Waiting for the
// event, not for an element, keeps a check from passing on the page that was left.
func (b *browser) loadAfter(what string, trigger chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger)); err != nil {
		b.t.Fatalf("browser %s: failed to %s: %v (page %s)", b.label, what, err, b.location())
	}
}

// newTab opens another tab that shares this tab's cookies.
func (b *browser) newTab(label string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("failed to open a tab: %v", err)
	}
	tab := *b
	tab.ctx, tab.label = ctx, label
	return &tab
}

// fill replaces the value of each input named by its CSS selector.
func (b *browser) fill(fields map[string]string) {
	b.t.Helper()
	for sel, value := range fields {
		b.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), value))
	}
}

// choose selects the option of a <select> whose value or label is option.
func (b *browser) choose(sel, option string) {
	b.t.Helper()
	script := fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (!s) { return "no element " + %q; }
		const want = %q;
		const o = Array.from(s.options).find(o => o.value === want || o.textContent.trim() === want ||
			o.textContent.trim().startsWith(want + " "));
		if (!o) { return "no option " + want + " in " + Array.from(s.options).map(o => o.value + "=" + o.textContent.trim()).join(", "); }
		s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return "";
	})()`, sel, sel, option)
	problem := run(b, "choose "+option+" in "+sel, chromedp.Evaluate[string](script))
	if problem != "" {
		b.t.Fatalf("browser %s: failed to choose %q in %s: %s", b.label, option, sel, problem)
	}
}

// text returns the text of the first element sel matches, as the user sees it.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// value returns the value of an input, or the text of another element.
func (b *browser) value(sel string) string {
	b.t.Helper()
	return run(b, "read "+sel, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const e = document.querySelector(%q); return e ? (e.value !== undefined ? e.value : e.textContent) : ""; })()`, sel)))
}

// waitFor waits until the JavaScript expression is true, with a failure bound of timeout. The
// page must not navigate meanwhile: use it for what live updates change.
func (b *browser) waitFor(what, expression string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expression,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.t.Fatalf("browser %s: %s did not happen (%v) on %s; the page shows:\n%s",
			b.label, what, err, b.location(), b.visibleText())
	}
}

// waitText waits until the element sel contains want, through live updates.
func (b *browser) waitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%s showing %q", sel, want), fmt.Sprintf(
		`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want), timeout)
}

// markPage tags the current document, so that checkSamePage can tell that no navigation or
// reload happened since: what changed came through live updates.
func (b *browser) markPage() {
	b.t.Helper()
	run(b, "mark the page", chromedp.Evaluate[chromedp.Void](`window.ferryE2EMark = true`))
}

// checkSamePage fails the test if the page was loaded again since markPage.
func (b *browser) checkSamePage(what string) {
	b.t.Helper()
	if !run(b, "check the page mark", chromedp.Evaluate[bool](`window.ferryE2EMark === true`)) {
		b.t.Errorf("browser %s: %s needed a new page load; the live update did not show it", b.label, what)
	}
}

// exists reports whether an element matches sel.
func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return run(b, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, sel)))
}

// location returns the tab's URL, or the error that kept it from being read.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(unknown: %v)", err)
	}
	return loc
}

// visibleText returns the page's text, cut to a few thousand characters, for failure messages.
func (b *browser) visibleText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	if len(text) > 4000 {
		text = text[:4000] + "\n[...]"
	}
	return text
}

// screenshot saves a full-page PNG as <FERRY_SCREENSHOTS>/webui-<name>.png when the variable is
// set. The waits before it decide what the page shows.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if b.shotDir == "" {
		return
	}
	if err := os.MkdirAll(b.shotDir, 0o755); err != nil {
		b.t.Fatalf("failed to create the screenshot directory: %v", err)
	}
	png := run(b, "take screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.shotDir, "webui-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("failed to write %s: %v", path, err)
	}
	b.t.Logf("screenshot %s: %d KiB", path, len(png)/1024)
}

// saveFailure writes a screenshot and the HTML of the page into the work directory of the
// suite, which outlives the test, and logs their paths.
func (b *browser) saveFailure() {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	base := filepath.Join(sys.workDir, sanitize(b.t.Name())+"-"+b.label)
	var saved []string
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		if os.WriteFile(base+".png", png, 0o644) == nil {
			saved = append(saved, base+".png")
		}
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		if os.WriteFile(base+".html", []byte(html), 0o644) == nil {
			saved = append(saved, base+".html")
		}
	}
	b.t.Logf("browser %s at %s; page saved as %s", b.label, b.location(), strings.Join(saved, " and "))
}

// run runs one action that returns a value, bounded by pageTimeout, and fails the test with
// what on error.
func run[T any](b *browser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %s: %w", pageTimeout, err)
		}
		b.t.Fatalf("browser %s: failed to %s: %v (page %s)", b.label, what, err, b.location())
	}
	return v
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// sanitize turns a test name into a file name.
func sanitize(name string) string {
	return unsafeFileChars.ReplaceAllString(name, "_")
}
