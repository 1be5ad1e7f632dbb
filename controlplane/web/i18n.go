package web

import (
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Languages of the UI, the first being the fallback.
var languages = []language.Tag{language.English, language.Japanese}

const langCookie = "ferry_lang"

// catalog contains the message catalogues of every language.
type catalog struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
}

// loadCatalog reads every locales/*.<lang>.toml file. A file's name before
// the language names the area of the UI its messages belong to.
func loadCatalog(fsys fs.FS) (*catalog, error) {
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(fsys, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := bundle.LoadMessageFileFS(fsys, f); err != nil {
			return nil, fmt.Errorf("web: message catalogue %s: %w", f, err)
		}
	}
	return &catalog{bundle: bundle, matcher: language.NewMatcher(languages)}, nil
}

// language picks the language of a request: the ?lang= switch, then the
// cookie the switch set, then the browser's Accept-Language.
func (c *catalog) language(r *http.Request) language.Tag {
	if v := r.URL.Query().Get("lang"); v != "" {
		if tag, ok := supported(v); ok {
			return tag
		}
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if tag, ok := supported(ck.Value); ok {
			return tag
		}
	}
	tag, _ := language.MatchStrings(c.matcher, r.Header.Get("Accept-Language"))
	base, _ := tag.Base()
	t, _ := supported(base.String())
	return t
}

func supported(code string) (language.Tag, bool) {
	for _, t := range languages {
		if t.String() == code {
			return t, true
		}
	}
	return languages[0], false
}

// withLanguage applies the language switch: a ?lang= parameter sets the
// cookie and redirects to the same page without it.
func (ui *UI) withLanguage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("lang")
		if v == "" || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		if tag, ok := supported(v); ok {
			// The language is a preference, not a secret: without Secure
			// the switch works over plain HTTP on any host too.
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: tag.String(), Path: "/",
				MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		q := r.URL.Query()
		q.Del("lang")
		target := r.URL.Path
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		http.Redirect(w, r, safeNext(target), http.StatusSeeOther)
	})
}

// view is the part of every template's data that all pages share: the language,
// the CSRF token and the formatting helpers. Templates call its methods,
// such as {{$.T "clusters.title"}}.
type view struct {
	Lang     string
	CSRF     string
	SignedIn bool
	// Path is the current path and query, for the language switch.
	Path string
	// Nav names the active navigation entry.
	Nav string
	// LangLocked shows the language switch disabled, on a page that
	// cannot be shown again, such as a new token.
	LangLocked bool

	ui      *UI
	loc     *i18n.Localizer
	printer *message.Printer
	tag     language.Tag
}

func (ui *UI) newView(r *http.Request, nav string) *view {
	tag := ui.i18n.language(r)
	v := &view{
		Lang:    tag.String(),
		Path:    r.URL.RequestURI(),
		Nav:     nav,
		ui:      ui,
		loc:     i18n.NewLocalizer(ui.i18n.bundle, tag.String()),
		printer: message.NewPrinter(tag),
		tag:     tag,
	}
	s, ok := sessionFrom(r.Context())
	if !ok {
		// Pages outside ui.page, such as the not-found page, still show
		// the navigation to a signed-in admin.
		s, ok = ui.sessions.read(r)
	}
	if ok {
		v.SignedIn, v.CSRF = true, s.CSRF
	}
	return v
}

// T returns the message id in the view's language. Arguments are pairs of
// a template field name and its value; a field named Count also picks the
// plural form.
func (v *view) T(id string, args ...any) string {
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			key, _ := args[i].(string)
			data[key] = args[i+1]
			if key == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := v.loc.Localize(cfg)
	if err != nil {
		v.ui.log.Warn("Message missing from the catalogue", "messageID", id, "lang", v.Lang, "error", err)
		return "⟦" + id + "⟧"
	}
	return s
}

// N formats an integer with the language's digit grouping.
func (v *view) N(n any) string { return v.printer.Sprintf("%d", n) }

// F formats a float with one decimal.
func (v *view) F(f float64) string { return v.printer.Sprintf("%.1f", f) }

// Bytes formats a byte count in binary units.
func (v *view) Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return v.printer.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return v.printer.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Time renders t as a <time> element: formatted for the language in UTC on
// the server, and turned into the browser's time zone by app.js.
func (v *view) Time(t any) template.HTML {
	tm, ok := timeValue(t)
	if !ok {
		return ""
	}
	tm = tm.UTC()
	layout := "Jan 2, 2006, 15:04:05 UTC"
	if v.Lang == "ja" {
		layout = "2006年1月2日 15:04:05 UTC"
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s</time>`,
		html.EscapeString(tm.Format(time.RFC3339Nano)), html.EscapeString(tm.Format(layout))))
}

// Duration formats d for the language, to the second (to the tenth below
// ten seconds).
func (v *view) Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < 10*time.Second {
		return v.T("unit.seconds", "Value", v.F(d.Seconds()))
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	parts := []string{}
	if h > 0 {
		parts = append(parts, v.T("unit.hours", "Value", h))
	}
	if h > 0 || m > 0 {
		parts = append(parts, v.T("unit.minutes", "Value", m))
	}
	parts = append(parts, v.T("unit.seconds", "Value", s))
	sep := " "
	if v.Lang == "ja" {
		sep = ""
	}
	return strings.Join(parts, sep)
}

// Since formats how long ago t was, such as "5 s ago".
func (v *view) Since(t any) string {
	tm, ok := timeValue(t)
	if !ok {
		return v.T("common.never")
	}
	d := v.ui.opts.Now().Sub(tm)
	switch {
	case d < time.Second:
		return v.T("common.justNow")
	case d < 10*time.Second:
		// Whole seconds: a tenth of a second means nothing for a heartbeat.
		return v.T("common.ago", "Duration", v.T("unit.seconds", "Value", int(d.Seconds())))
	}
	return v.T("common.ago", "Duration", v.Duration(d))
}

// timeValue returns the time that a template passes as a time.Time or a
// *time.Time. ok is false for nil, the zero time and any other type.
func timeValue(t any) (tm time.Time, ok bool) {
	switch x := t.(type) {
	case time.Time:
		tm = x
	case *time.Time:
		if x != nil {
			tm = *x
		}
	}
	return tm, !tm.IsZero()
}

// LangURL is the current page with the language switched to lang. It
// drops the notice parameter, so that a message shown once after a
// redirect does not come back on the switch.
func (v *view) LangURL(lang string) string {
	u, err := url.Parse(v.Path)
	if err != nil {
		return "/?lang=" + url.QueryEscape(lang)
	}
	q := u.Query()
	q.Del("notice")
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// State renders a job state as a badge in the view's language.
func (v *view) State(state any) template.HTML {
	s := html.EscapeString(fmt.Sprint(state))
	return template.HTML(fmt.Sprintf(`<span class="state state-%s" data-state="%s">%s</span>`,
		s, s, html.EscapeString(v.T("state."+fmt.Sprint(state)))))
}
