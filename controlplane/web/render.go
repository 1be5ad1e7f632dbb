package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/ferryhq/ferry/protocol/client"
)

// page is one parsed page: the layout, the shared partials and the page's
// own templates.
type page struct {
	tmpl *template.Template
}

// parsePages parses templates/<name>.html for every page. layout.html and
// files that start with an underscore are shared by all pages.
func parsePages(fsys fs.FS) (map[string]*page, error) {
	files, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	shared := []string{"templates/layout.html"}
	var pageFiles []string
	for _, f := range files {
		base := path.Base(f)
		switch {
		case base == "layout.html":
		case strings.HasPrefix(base, "_"):
			shared = append(shared, f)
		default:
			pageFiles = append(pageFiles, f)
		}
	}
	pages := make(map[string]*page, len(pageFiles))
	for _, f := range pageFiles {
		t, err := template.New(path.Base(f)).Funcs(funcs).ParseFS(fsys, append(append([]string{}, shared...), f)...)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", f, err)
		}
		pages[strings.TrimSuffix(path.Base(f), ".html")] = &page{tmpl: t}
	}
	return pages, nil
}

// funcs are the template functions that need no language; the ones that
// do are methods of view.
var funcs = template.FuncMap{
	"join": strings.Join,
	// pct is the share of part in whole, 0 to 100.
	"pct": func(part, whole int64) int64 {
		if whole <= 0 {
			return 0
		}
		return min(100, part*100/whole)
	},
	"visible": showBidiControls,
	"code":    codeSpans,
	"field":   fieldAttrs,
}

// fieldAttrs returns the ARIA attributes of a form field with the given
// id: aria-describedby naming its hints and, when errMsg is a non-empty
// string, its message (id "<id>-error") and aria-invalid. Templates give
// the message that id. errMsg is any because a missing key of a nil error
// map reaches a function as nil.
func fieldAttrs(id string, errMsg any, hints ...string) template.HTMLAttr {
	described := hints
	var invalid string
	if msg, _ := errMsg.(string); msg != "" {
		described = append(described[:len(described):len(described)], id+"-error")
		invalid = ` aria-invalid="true"`
	}
	if len(described) == 0 {
		return ""
	}
	return template.HTMLAttr(`aria-describedby="` + template.HTMLEscapeString(strings.Join(described, " ")) + `"` + invalid)
}

// codeSpans escapes a catalogue message and shows each `quoted` part of it
// as <code>, as Markdown does, so that messages can name commands without
// markup of their own.
func codeSpans(msg string) template.HTML {
	parts := strings.Split(msg, "`")
	if len(parts)%2 == 0 {
		// An unmatched backtick: show the text as it is.
		return template.HTML(template.HTMLEscapeString(msg))
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
			continue
		}
		b.WriteString(template.HTMLEscapeString(p))
	}
	return template.HTML(b.String())
}

// showBidiControls returns s with every bidirectional control character
// written out as its code point, such as ⟨U+202E⟩. These characters reorder
// the text around them, so a name "\u202Egnp.exe" would read as "exe.png".
// Pages pass user-supplied text through it; form fields keep the raw value
// so that a save does not change it.
func showBidiControls(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isBidiControl(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isBidiControl reports whether r is a directional mark (U+200E, U+200F),
// embedding or override (U+202A to U+202E) or isolate (U+2066 to U+2069).
func isBidiControl(r rune) bool {
	return r == '\u200E' || r == '\u200F' || (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// render writes a whole page: the layout filled with the page's blocks.
func (ui *UI) render(w http.ResponseWriter, r *http.Request, name string, status int, data any) {
	ui.renderTemplate(w, r, name, "layout", status, data)
}

// renderTemplate writes one named template of a page, such as a fragment
// that a live update replaces.
func (ui *UI) renderTemplate(w http.ResponseWriter, r *http.Request, name, tmpl string, status int, data any) {
	var buf bytes.Buffer
	if err := ui.execute(&buf, name, tmpl, data); err != nil {
		ui.log.Error("Failed to render a page", "page", name, "template", tmpl, "path", r.URL.Path, "error", err)
		http.Error(w, "internal error; the control plane log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (ui *UI) execute(buf *bytes.Buffer, name, tmpl string, data any) error {
	p, ok := ui.pages[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	return p.tmpl.ExecuteTemplate(buf, tmpl, data)
}

// fragment renders one named template of a page to a string, for a live
// update.
func (ui *UI) fragment(name, tmpl string, data any) (string, error) {
	var buf bytes.Buffer
	if err := ui.execute(&buf, name, tmpl, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// errorData is the data of the error page.
type errorData struct {
	*view
	Status  int
	Title   string
	Message string
}

func (ui *UI) errorPage(w http.ResponseWriter, r *http.Request, status int, titleID, message string) {
	v := ui.newView(r, "")
	ui.render(w, r, "error", status, errorData{view: v, Status: status, Title: v.T(titleID), Message: message})
}

func (ui *UI) notFound(w http.ResponseWriter, r *http.Request) {
	ui.errorPage(w, r, http.StatusNotFound, "error.notFound", "")
}

func (ui *UI) forbidden(w http.ResponseWriter, r *http.Request) {
	v := ui.newView(r, "")
	ui.errorPage(w, r, http.StatusForbidden, "error.forbidden", v.T("error.forbiddenHelp"))
}

// apiFailure shows an admin API error. A rejection (a status below 500)
// shows the API's own message, worded as apiText does, because that message
// names the value and the fix and never contains a secret. Any other error
// shows a generic message.
func (ui *UI) apiFailure(w http.ResponseWriter, r *http.Request, err error) {
	v := ui.newView(r, "")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.StatusCode == http.StatusNotFound:
			ui.errorPage(w, r, http.StatusNotFound, "error.notFound", v.apiText(apiErr.Message))
			return
		case apiErr.StatusCode < 500:
			ui.errorPage(w, r, apiErr.StatusCode, "error.refused", v.apiText(apiErr.Message))
			return
		}
	}
	ui.log.Error("Admin API call failed", "method", r.Method, "path", r.URL.Path, "error", err)
	ui.errorPage(w, r, http.StatusInternalServerError, "error.internal", v.T("error.internalHelp"))
}

// apiMessage returns the message of an admin API rejection without its
// command-line advice, and false for any other error. Pages show it through
// view.apiRefusal, which adds the lead-in of the user's language.
func apiMessage(err error) (string, bool) {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
		return withoutCLIAdvice(apiErr.Message), true
	}
	return "", false
}

// apiRefusal returns the text of an admin API rejection (a status below 500)
// to show on a page, and false for any other error. The admin API words its
// messages in English for the command line. The text is therefore the
// message without its command-line advice and, in other languages, under a
// lead-in that marks it as the control plane's own English message.
// Rejections the UI can tell apart by status and operation, such as a
// duplicate name, get a catalogue message instead.
func (v *view) apiRefusal(err error) (string, bool) {
	msg, ok := apiMessage(err)
	if !ok {
		return "", false
	}
	return v.apiText(msg), true
}

// formRejection words the admin API's rejection of a create or update form.
// A conflict can only be a duplicate name, so it becomes nameError from the
// catalogue message nameTakenID. Any other rejection becomes message. ok is
// false for a failure that is not a rejection, which belongs on the error
// page.
func (v *view) formRejection(err error, nameTakenID, name string) (nameError, message string, ok bool) {
	if client.StatusCode(err) == http.StatusConflict {
		return v.T(nameTakenID, "Name", name), "", true
	}
	message, ok = v.apiRefusal(err)
	return "", message, ok
}

// apiText puts an admin API message under the lead-in of the view's
// language.
func (v *view) apiText(msg string) string {
	return v.T("error.apiMessage", "Message", withoutCLIAdvice(msg))
}

// withoutCLIAdvice drops the clauses of an admin API message that tell a
// command-line user what to run, such as "; list clusters with `controlplane
// cluster list`": the UI has its own buttons for that. A message made only
// of such advice stays as it is.
func withoutCLIAdvice(msg string) string {
	clauses := strings.Split(msg, "; ")
	kept := clauses[:0:0]
	for _, c := range clauses {
		if !strings.Contains(c, "`controlplane ") {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return msg
	}
	return strings.Join(kept, "; ")
}
