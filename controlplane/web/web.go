// Package web is the control plane's web UI: server-rendered pages for
// clusters, registration tokens, runners, connections, transfer
// configurations, previews and jobs, in English and Japanese, with live
// updates over Server-Sent Events.
//
// The UI holds no state of its own beyond the signed session cookie. It
// reads and writes through the admin API in the same process, so every
// change passes the same checks as a `controlplane` CLI call.
package web

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed locales/*.toml
var localeFS embed.FS

// Options configures the UI. API and AdminToken are required.
type Options struct {
	// API is the admin API client the UI works through.
	API *admin.Client
	// AdminToken is the secret the admin types to sign in. It also keys the
	// session cookies, so changing it signs every browser out.
	AdminToken string
	// Logger receives sign-in and error logs. Default: slog.Default().
	Logger *slog.Logger
	// SessionTTL is how long a sign-in lasts. Default: 12 hours.
	SessionTTL time.Duration
	// StreamInterval is how often a live page looks for changes.
	// Default: one second.
	StreamInterval time.Duration
	// Now is the time source of sessions. Default: time.Now.
	Now func() time.Time
	// PublicURL is the URL runners use to reach the control plane, such as
	// https://ferry.example.com. The install commands on the token page
	// contain it. Empty means the scheme and host of the request, which is
	// wrong behind a proxy that terminates TLS.
	PublicURL string
	// TrustedProxies are the reverse proxies in front of the UI, as CIDR
	// prefixes such as 10.0.0.0/8 or single addresses. For a request from
	// one of them, the client address is the right-most X-Forwarded-For
	// entry that is not itself a trusted proxy. The sign-in limit and the
	// sign-in logs use that address. Empty means the peer address of the
	// connection.
	TrustedProxies []string
}

// UI serves the web pages.
type UI struct {
	api      *admin.Client
	log      *slog.Logger
	opts     Options
	sessions *sessions
	// signInLimit limits failed sign-ins per client address.
	signInLimit *signInLimiter
	// proxies are the parsed Options.TrustedProxies.
	proxies []netip.Prefix
	i18n    *catalog
	pages   map[string]*page
	handler http.Handler

	// closing is closed by Close to end every live update stream.
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns the UI. Mount its Handler at the root of the control plane's
// HTTP server, next to the APIs.
func New(opts Options) (*UI, error) {
	if opts.API == nil {
		return nil, errors.New("web: Options.API is required")
	}
	if opts.AdminToken == "" {
		return nil, errors.New("web: Options.AdminToken is required")
	}

	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.StreamInterval <= 0 {
		opts.StreamInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("web: invalid public URL %q: want http(s)://host[:port][/path], such as https://ferry.example.com", opts.PublicURL)
		}
		opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	}
	proxies, err := parseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog(localeFS)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages(templateFS)
	if err != nil {
		return nil, err
	}

	ui := &UI{
		api:         opts.API,
		log:         opts.Logger,
		opts:        opts,
		sessions:    newSessions(opts.AdminToken, opts.SessionTTL, opts.Now, opts.API),
		signInLimit: newSignInLimiter(opts.Now),
		proxies:     proxies,
		i18n:        cat,
		pages:       pages,
		closing:     make(chan struct{}),
	}
	ui.handler = ui.routes()
	return ui, nil
}

// Close ends every open live update stream, so that http.Server.Shutdown
// need not wait for browsers to hang up. Call it before Shutdown. A stream
// opened after Close ends after its first update, and the browser retries
// it later, perhaps on another replica. Pages are served as before. Calls
// after the first do nothing.
func (ui *UI) Close() {
	ui.closeOnce.Do(func() { close(ui.closing) })
}

// Handler returns the UI's HTTP handler.
func (ui *UI) Handler() http.Handler { return ui.handler }

func (ui *UI) routes() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("web: embedded static files: %v", err))
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", ui.staticFiles(static)))
	mux.HandleFunc("GET /signin", ui.handleSignInForm)
	mux.HandleFunc("POST /signin", ui.handleSignIn)
	mux.HandleFunc("POST /signout", ui.handleSignOut)

	// Every page below needs a session; forms also need its CSRF token.
	ui.page(mux, "GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jobs", http.StatusSeeOther)
	})
	ui.clusterRoutes(mux)
	ui.connectionRoutes(mux)
	ui.configRoutes(mux)
	ui.jobRoutes(mux)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ui.notFound(w, r)
	})
	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ui.log.Warn("Cross-origin form post rejected", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"))
		ui.forbidden(w, r)
	}))
	return securityHeaders(ui.withLanguage(protect.Handler(mux)))
}

// page registers a handler that requires a signed-in session, and for
// unsafe methods a matching CSRF token in the form.
func (ui *UI) page(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		// An ID of "." or ".." (sent as %2e) would reach another admin API
		// path once the client puts it into a URL.
		if hasDotSegment(r.URL.Path) {
			ui.notFound(w, r)
			return
		}
		sess, ok, err := ui.sessions.check(r)
		if err != nil {
			ui.apiFailure(w, r, err)
			return
		}
		if !ok {
			switch {
			case isStreamRequest(r):
				streamSignedOut(w)
			case r.Method == http.MethodGet:
				http.Redirect(w, r, signInURL(r.URL.RequestURI()), http.StatusSeeOther)
			default:
				ui.forbidden(w, r)
			}
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !sess.checkCSRF(r.PostFormValue(csrfField)) {
				ui.log.Warn("Form post rejected: no valid CSRF token", "method", r.Method, "path", r.URL.Path)
				ui.forbidden(w, r)
				return
			}
		}
		h(w, r.WithContext(withSession(r.Context(), sess)))
	})
}

// maxFormBytes bounds a form post; the largest form, a configuration with
// a query, stays well below it.
const maxFormBytes = 256 << 10

// securityHeaders sets headers that keep pages out of frames and scripts to
// the UI's own.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// hasDotSegment reports whether the path has a "." or ".." segment.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// staticFiles serves the embedded assets without directory listings: a
// directory is not found.
func (ui *UI) staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		if name == "" || strings.HasSuffix(name, "/") {
			ui.notFound(w, r)
			return
		}
		if fi, err := fs.Stat(fsys, name); err == nil && fi.IsDir() {
			ui.notFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// Mount returns a handler that sends the runner protocol (/runner/), the
// admin API (/api/) and the health check to api, and every other path to
// the UI.
func (ui *UI) Mount(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/runner/", api)
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/", ui.handler)
	return mux
}
