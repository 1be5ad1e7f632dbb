package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/transfer/spec"
)

// connectionTypes are the connection types in the order the form lists
// them.
var connectionTypes = []spec.EndpointType{
	spec.TypeMySQL, spec.TypePostgres, spec.TypeSQLite, spec.TypeCSV, spec.TypeJSONL, spec.TypeParquet,
}

func (ui *UI) connectionRoutes(mux *http.ServeMux) {
	ui.page(mux, "GET /connections", ui.handleConnections)
	ui.page(mux, "GET /connections/new", ui.handleNewConnection)
	ui.page(mux, "POST /connections", ui.handleCreateConnection)
	ui.page(mux, "GET /connections/{connection}/edit", ui.handleEditConnection)
	ui.page(mux, "POST /connections/{connection}", ui.handleUpdateConnection)
}

type connectionsData struct {
	*view
	Connections []admin.Connection
}

func (ui *UI) handleConnections(w http.ResponseWriter, r *http.Request) {
	conns, err := ui.api.ListConnections(r.Context())
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].Name < conns[j].Name })
	ui.render(w, r, "connections", http.StatusOK, connectionsData{view: ui.newView(r, "connections"), Connections: conns})
}

// ConnectionEndpoint formats where a connection points: host:port/database
// for a server, the path for SQLite and files.
func (v *view) ConnectionEndpoint(c admin.Connection) string {
	if c.Path != "" {
		return c.Path
	}
	host := c.Host
	if c.Port != 0 {
		host += ":" + strconv.Itoa(c.Port)
	}
	return host + "/" + c.Database
}

// connectionForm is the content of the connection form. Values are kept as
// typed, so that a form with errors comes back as it was. The exception is
// the password, which is never sent to the browser.
type connectionForm struct {
	Name     string
	Type     string
	Host     string
	Port     string
	Database string
	User     string
	Path     string
	Params   string
	// ClearPassword is the "remove the stored password" checkbox.
	ClearPassword bool
	// password is the typed password. It is unexported so that no
	// template can show it.
	password string
}

type connectionFormData struct {
	*view
	// Ref is the ID of the connection being edited, or empty for a new one.
	Ref         string
	Form        connectionForm
	Types       []spec.EndpointType
	HasPassword bool
	Errors      map[string]string
	// Message is the admin API's error message when it rejected the form.
	Message string
}

// PasswordDropped reports whether the rejected form had a typed password,
// which the page does not send back, so the user must type it again. A
// form error on the password field itself shows what to do instead.
func (d connectionFormData) PasswordDropped() bool {
	return d.Invalid() && d.Form.password != "" && d.Errors["password"] == ""
}

// Action is the URL the form posts to.
func (d connectionFormData) Action() string {
	if d.Ref == "" {
		return "/connections"
	}
	return "/connections/" + d.Ref
}

// Invalid reports whether the form has errors to show.
func (d connectionFormData) Invalid() bool { return len(d.Errors) > 0 || d.Message != "" }

func (ui *UI) handleNewConnection(w http.ResponseWriter, r *http.Request) {
	ui.renderConnectionForm(w, r, http.StatusOK, connectionFormData{
		Form: connectionForm{Type: string(spec.TypeMySQL)},
	})
}

func (ui *UI) handleEditConnection(w http.ResponseWriter, r *http.Request) {
	c, err := ui.api.GetConnection(r.Context(), r.PathValue("connection"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	form := connectionForm{Name: c.Name, Type: c.Type, Host: c.Host, Database: c.Database, User: c.User,
		Path: c.Path, Params: formatParams(c.Params)}
	if c.Port != 0 {
		form.Port = strconv.Itoa(c.Port)
	}
	ui.renderConnectionForm(w, r, http.StatusOK, connectionFormData{Ref: c.ID, Form: form, HasPassword: c.HasPassword})
}

func (ui *UI) renderConnectionForm(w http.ResponseWriter, r *http.Request, status int, data connectionFormData) {
	data.view = ui.newView(r, "connections")
	data.Types = connectionTypes
	ui.render(w, r, "connection_form", status, data)
}

func (ui *UI) handleCreateConnection(w http.ResponseWriter, r *http.Request) {
	v := ui.newView(r, "connections")
	form := readConnectionForm(r)
	req, errs := form.check(v, false)
	if len(errs) > 0 {
		ui.renderConnectionForm(w, r, http.StatusUnprocessableEntity, connectionFormData{Form: form, Errors: errs})
		return
	}
	c, err := ui.api.CreateConnection(r.Context(), admin.CreateConnectionRequest{
		Name: req.Name, Type: req.Type, Host: req.Host, Port: req.Port, Database: req.Database,
		User: req.User, Password: req.Password, Path: req.Path, Params: req.Params,
	})
	if err != nil {
		ui.connectionRefused(w, r, err, connectionFormData{Form: form})
		return
	}
	ui.log.Info("Connection created in the web UI", "connectionID", c.ID, "connectionName", c.Name)
	http.Redirect(w, r, "/connections", http.StatusSeeOther)
}

func (ui *UI) handleUpdateConnection(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	old, err := ui.api.GetConnection(ctx, r.PathValue("connection"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	v := ui.newView(r, "connections")
	form := readConnectionForm(r)
	data := connectionFormData{Ref: old.ID, Form: form, HasPassword: old.HasPassword}
	req, errs := form.check(v, old.HasPassword)
	if len(errs) > 0 {
		data.Errors = errs
		ui.renderConnectionForm(w, r, http.StatusUnprocessableEntity, data)
		return
	}
	c, err := ui.api.UpdateConnection(ctx, old.ID, req)
	if err != nil {
		ui.connectionRefused(w, r, err, data)
		return
	}
	ui.log.Info("Connection updated in the web UI", "connectionID", c.ID, "connectionName", c.Name)
	http.Redirect(w, r, "/connections", http.StatusSeeOther)
}

// connectionRefused shows the admin API's rejection on the form, or the
// error page for any other failure.
func (ui *UI) connectionRefused(w http.ResponseWriter, r *http.Request, err error, data connectionFormData) {
	nameError, message, ok := ui.newView(r, "connections").formRejection(err, "connections.nameTaken", data.Form.Name)
	if !ok {
		ui.apiFailure(w, r, err)
		return
	}
	if nameError != "" {
		data.Errors = map[string]string{"name": nameError}
	}
	data.Message = message
	ui.renderConnectionForm(w, r, http.StatusUnprocessableEntity, data)
}

func readConnectionForm(r *http.Request) connectionForm {
	return connectionForm{
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Type:          r.PostFormValue("type"),
		Host:          strings.TrimSpace(r.PostFormValue("host")),
		Port:          strings.TrimSpace(r.PostFormValue("port")),
		Database:      strings.TrimSpace(r.PostFormValue("database")),
		User:          strings.TrimSpace(r.PostFormValue("user")),
		Path:          strings.TrimSpace(r.PostFormValue("path")),
		Params:        r.PostFormValue("params"),
		ClearPassword: r.PostFormValue("clear_password") != "",
		password:      r.PostFormValue("password"),
	}
}

// check validates the form and returns the request it describes, or the
// message of each invalid field keyed by the field's name. hasPassword
// reports whether the connection being edited has a stored password.
func (f connectionForm) check(v *view, hasPassword bool) (admin.UpdateConnectionRequest, map[string]string) {
	errs := map[string]string{}
	req := admin.UpdateConnectionRequest{Name: f.Name, Type: f.Type, Host: f.Host, Database: f.Database,
		User: f.User, Password: f.password, Path: f.Path, ClearPassword: f.ClearPassword}

	checkResourceName(v, errs, "name", f.Name)
	t := spec.EndpointType(f.Type)
	known := false
	for _, ct := range connectionTypes {
		known = known || ct == t
	}
	if !known {
		errs["type"] = v.T("connections.typeInvalid")
	}
	if f.Port != "" {
		port, err := strconv.Atoi(f.Port)
		if err != nil || port < 1 || port > 65535 {
			errs["port"] = v.T("connections.portInvalid", "Value", f.Port)
		}
		req.Port = port
	}
	params, err := parseParams(f.Params)
	var perr *paramsError
	switch {
	case errors.As(err, &perr) && perr.Duplicate:
		errs["params"] = v.T("connections.paramsDuplicate", "Line", perr.Line)
	case errors.As(err, &perr):
		errs["params"] = v.T("connections.paramsInvalid", "Line", perr.Line)
	}
	req.Params = params
	if f.password != "" && f.ClearPassword {
		errs["password"] = v.T("connections.passwordBoth")
	}

	switch {
	case !known:
	case t.IsServer():
		for field, value := range map[string]string{"host": f.Host, "database": f.Database, "user": f.User} {
			if value == "" {
				errs[field] = v.T("common.required")
			}
		}
		if f.Path != "" {
			errs["path"] = v.T("connections.pathOnlyFiles", "Type", f.Type)
		}
	default:
		if f.Path == "" {
			errs["path"] = v.T("common.required")
		}
		for field, value := range map[string]string{"host": f.Host, "port": f.Port, "database": f.Database, "user": f.User, "password": f.password} {
			if value != "" {
				errs[field] = v.T("connections.onlyServers", "Type", f.Type)
			}
		}
		if hasPassword && !f.ClearPassword {
			errs["password"] = v.T("connections.passwordMustClear", "Type", f.Type)
		}
	}
	return req, errs
}

// checkResourceName sets errs[field] when name is empty or not a valid resource
// name. The admin API checks the same rule, but checking it here first words
// the message in the user's language.
func checkResourceName(v *view, errs map[string]string, field, name string) {
	switch {
	case name == "":
		errs[field] = v.T("common.required")
	case !admin.ValidName(name):
		errs[field] = v.T("common.invalidName")
	}
}

// paramsError is a line of the parameters text that is not a new
// key=value pair.
type paramsError struct {
	Line      string
	Duplicate bool
}

func (e *paramsError) Error() string { return fmt.Sprintf("invalid parameter line %q", e.Line) }

// parseParams reads driver parameters written as one key=value per line.
// Blank lines are skipped, and spaces around keys and values are trimmed.
func parseParams(text string) (map[string]string, error) {
	params := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, &paramsError{Line: line}
		}
		if _, dup := params[key]; dup {
			return nil, &paramsError{Line: line, Duplicate: true}
		}
		params[key] = strings.TrimSpace(value)
	}
	if len(params) == 0 {
		return nil, nil
	}
	return params, nil
}

// formatParams writes driver parameters as key=value lines, sorted by key.
func formatParams(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + params[k] + "\n")
	}
	return b.String()
}

// connectionsByID maps connection IDs to connections, for pages that show
// connection names next to IDs.
func (ui *UI) connectionsByID(ctx context.Context) (map[string]admin.Connection, []admin.Connection, error) {
	conns, err := ui.api.ListConnections(ctx)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].Name < conns[j].Name })
	byID := make(map[string]admin.Connection, len(conns))
	for _, c := range conns {
		byID[c.ID] = c
	}
	return byID, conns, nil
}
