package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/transfer/spec"
)

// loadModes are the destination load modes in the order the form lists
// them.
var loadModes = []spec.Mode{spec.ModeInsert, spec.ModeTruncateInsert, spec.ModeReplace, spec.ModeMerge}

// noCluster is the cluster field's value for "None": the user chose to
// store the configuration without a cluster. An empty value means that the
// user has not chosen yet.
const noCluster = "none"

// configForm is the content of the configuration form. Values are kept as
// typed, so that a form with errors comes back as it was. Cluster and the
// connections are IDs, except that Cluster may also be noCluster or empty.
type configForm struct {
	Name               string
	Cluster            string
	SourceConnection   string
	SourceTable        string
	SourceQuery        string
	Columns            string
	Where              string
	DestConnection     string
	DestTable          string
	Mode               string
	MergeKeys          string
	Incremental        bool
	IncrementalColumns string
	Parallelism        string
	PreviewRows        string
}

type configFormData struct {
	*view
	// Ref is the ID of the configuration being edited, or empty for a new
	// one.
	Ref         string
	Form        configForm
	Clusters    []admin.Cluster
	Connections []admin.Connection
	Modes       []spec.Mode
	Errors      map[string]string
	// Message is the admin API's error message when it rejected the form.
	Message string
}

// Action is the URL the form posts to.
func (d configFormData) Action() string {
	if d.Ref == "" {
		return "/configs"
	}
	return "/configs/" + d.Ref
}

// Invalid reports whether the form has errors to show.
func (d configFormData) Invalid() bool { return len(d.Errors) > 0 || d.Message != "" }

// connectionChoice is one connection select of the form.
type connectionChoice struct {
	*view
	// ID and Name are the select's id and name attributes.
	ID, Name    string
	Selected    string
	Connections []admin.Connection
	// Error is the message of the select's field, "" when it is valid.
	Error string
	// Source marks the source select, where destination-only types are
	// disabled.
	Source bool
}

// SourceChoice returns the data of the source connection select.
func (d configFormData) SourceChoice() connectionChoice {
	return connectionChoice{view: d.view, ID: "cfg-source-connection", Name: "source_connection",
		Selected: d.Form.SourceConnection, Connections: d.Connections, Source: true,
		Error: d.Errors["source_connection"]}
}

// DestinationChoice returns the data of the destination connection select.
func (d configFormData) DestinationChoice() connectionChoice {
	return connectionChoice{view: d.view, ID: "cfg-dest-connection", Name: "dest_connection",
		Selected: d.Form.DestConnection, Connections: d.Connections,
		Error: d.Errors["dest_connection"]}
}

// DestinationOnly reports whether the select is the source's and conn can
// only be a destination, so that the option is shown disabled.
func (c connectionChoice) DestinationOnly(conn admin.Connection) bool {
	return c.Source && spec.EndpointType(conn.Type) == spec.TypeParquet
}

// ClusterNone reports whether the user chose to store the configuration
// without a cluster.
func (d configFormData) ClusterNone() bool { return d.Form.Cluster == noCluster }

func (ui *UI) handleNewConfig(w http.ResponseWriter, r *http.Request) {
	clusters, err := ui.api.ListClusters(r.Context())
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	form := configForm{Mode: string(spec.ModeInsert)}
	// With a single cluster there is nothing to choose. With none or
	// several, the user picks one, or None, on purpose.
	if len(clusters) == 1 {
		form.Cluster = clusters[0].ID
	}
	ui.renderConfigForm(w, r, http.StatusOK, configFormData{Form: form})
}

func (ui *UI) handleEditConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := ui.api.GetConfig(r.Context(), r.PathValue("config"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	form := configForm{
		Name: cfg.Name, Cluster: cfg.ClusterID,
		SourceConnection: cfg.Source.Connection, SourceTable: cfg.Source.Table, SourceQuery: cfg.Source.Query,
		Columns: strings.Join(cfg.Source.Columns, ", "), Where: cfg.Source.Where,
		DestConnection: cfg.Destination.Connection, DestTable: cfg.Destination.Table,
		Mode: cfg.Destination.Mode, MergeKeys: strings.Join(cfg.Destination.MergeKeys, ", "),
		Incremental: cfg.Incremental, IncrementalColumns: strings.Join(cfg.IncrementalColumns, ", "),
	}
	if form.Mode == "" {
		form.Mode = string(spec.ModeInsert)
	}
	if form.Cluster == "" {
		form.Cluster = noCluster
	}
	if cfg.Parallelism != 0 {
		form.Parallelism = strconv.Itoa(cfg.Parallelism)
	}
	if cfg.PreviewRows != 0 {
		form.PreviewRows = strconv.Itoa(cfg.PreviewRows)
	}
	ui.renderConfigForm(w, r, http.StatusOK, configFormData{Ref: cfg.ID, Form: form})
}

// renderConfigForm fills in the view and the cluster and connection lists
// of the form, and renders it.
func (ui *UI) renderConfigForm(w http.ResponseWriter, r *http.Request, status int, data configFormData) {
	_, clusters, conns, err := ui.loadConfigNames(r.Context())
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	data.view = ui.newView(r, "configs")
	data.Clusters, data.Connections, data.Modes = clusters, conns, loadModes
	ui.render(w, r, "config_form", status, data)
}

func (ui *UI) handleCreateConfig(w http.ResponseWriter, r *http.Request) {
	ui.saveConfig(w, r, "")
}

func (ui *UI) handleUpdateConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := ui.api.GetConfig(r.Context(), r.PathValue("config"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	ui.saveConfig(w, r, cfg.ID)
}

// saveConfig creates a configuration (ref empty) or replaces the settings
// of the configuration with ID ref, and on success shows its page.
func (ui *UI) saveConfig(w http.ResponseWriter, r *http.Request, ref string) {
	ctx := r.Context()
	names, _, _, err := ui.loadConfigNames(ctx)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}

	form := readConfigForm(r)
	data := configFormData{Ref: ref, Form: form}
	req, errs := form.check(ui.newView(r, "configs"), names)
	if len(errs) > 0 {
		data.Errors = errs
		ui.renderConfigForm(w, r, http.StatusUnprocessableEntity, data)
		return
	}

	var cfg admin.Config
	if ref == "" {
		cfg, err = ui.api.CreateConfig(ctx, req)
	} else {
		cfg, err = ui.api.UpdateConfig(ctx, ref, req)
	}
	if err != nil {
		ui.configRefused(w, r, err, data)
		return
	}

	ui.log.Info("Transfer config saved in the web UI", "configID", cfg.ID, "configName", cfg.Name, "created", ref == "")
	http.Redirect(w, r, "/configs/"+cfg.ID, http.StatusSeeOther)
}

// configRefused shows the admin API's rejection on the form, or the error
// page for any other failure.
func (ui *UI) configRefused(w http.ResponseWriter, r *http.Request, err error, data configFormData) {
	nameError, message, ok := ui.newView(r, "configs").formRejection(err, "configs.nameTaken", data.Form.Name)
	if !ok {
		ui.apiFailure(w, r, err)
		return
	}
	if nameError != "" {
		data.Errors = map[string]string{"name": nameError}
	}
	data.Message = message
	ui.renderConfigForm(w, r, http.StatusUnprocessableEntity, data)
}

func readConfigForm(r *http.Request) configForm {
	field := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return configForm{
		Name:               field("name"),
		Cluster:            field("cluster"),
		SourceConnection:   field("source_connection"),
		SourceTable:        field("source_table"),
		SourceQuery:        field("source_query"),
		Columns:            field("columns"),
		Where:              field("where"),
		DestConnection:     field("dest_connection"),
		DestTable:          field("dest_table"),
		Mode:               field("mode"),
		MergeKeys:          field("merge_keys"),
		Incremental:        r.PostFormValue("incremental") != "",
		IncrementalColumns: field("incremental_columns"),
		Parallelism:        field("parallelism"),
		PreviewRows:        field("preview_rows"),
	}
}

// check validates what the form alone can tell and returns the request it
// describes, or the message of each invalid field keyed by the field's
// name. The admin API runs the engine's full validation afterwards.
func (f configForm) check(v *view, names configNames) (admin.CreateConfigRequest, map[string]string) {
	errs := map[string]string{}
	req := admin.CreateConfigRequest{
		Name: f.Name,
		Source: admin.ConfigSource{Connection: f.SourceConnection, Table: f.SourceTable, Query: f.SourceQuery,
			Columns: splitList(f.Columns), Where: f.Where},
		Destination: admin.ConfigDestination{Connection: f.DestConnection, Table: f.DestTable, Mode: f.Mode,
			MergeKeys: splitList(f.MergeKeys)},
		Incremental: f.Incremental, IncrementalColumns: splitList(f.IncrementalColumns),
	}

	checkResourceName(v, errs, "name", f.Name)
	switch _, known := names.clusters[f.Cluster]; {
	case f.Cluster == "":
		errs["cluster"] = v.T("configs.clusterRequired")
	case f.Cluster == noCluster:
	case !known:
		errs["cluster"] = v.T("configs.clusterUnknown")
	default:
		req.Cluster = f.Cluster
	}

	src, srcOK := names.connections[f.SourceConnection]
	switch {
	case f.SourceConnection == "":
		errs["source_connection"] = v.T("configs.connectionRequired")
	case !srcOK:
		errs["source_connection"] = v.T("configs.connectionUnknown")
	case spec.EndpointType(src.Type) == spec.TypeParquet:
		errs["source_connection"] = v.T("configs.parquetSource")
	case spec.EndpointType(src.Type).IsDatabase() && f.SourceTable == "" && f.SourceQuery == "":
		errs["source_table"] = v.T("configs.tableOrQuery")
	case spec.EndpointType(src.Type).IsDatabase() && f.SourceTable != "" && f.SourceQuery != "":
		errs["source_query"] = v.T("configs.tableAndQuery")
	}
	if srcOK && spec.EndpointType(src.Type).IsDatabase() && f.SourceQuery != "" && f.SourceTable == "" {
		// The engine applies columns and where to a table only.
		if f.Columns != "" {
			errs["columns"] = v.T("configs.columnsWithQuery")
		}
		if f.Where != "" {
			errs["where"] = v.T("configs.whereWithQuery")
		}
	}

	dst, dstOK := names.connections[f.DestConnection]
	switch {
	case f.DestConnection == "":
		errs["dest_connection"] = v.T("configs.connectionRequired")
	case !dstOK:
		errs["dest_connection"] = v.T("configs.connectionUnknown")
	case !isFileType(dst.Type) && f.DestTable == "":
		errs["dest_table"] = v.T("common.required")
	}

	modeOK := false
	for _, m := range loadModes {
		modeOK = modeOK || string(m) == f.Mode
	}
	if !modeOK {
		errs["mode"] = v.T("configs.modeInvalid")
	}
	if dstOK && isFileType(dst.Type) && f.Mode == string(spec.ModeInsert) {
		// A file destination takes no load mode. The form's default,
		// insert, means "none" there.
		req.Destination.Mode = ""
	}
	if f.Incremental && f.SourceQuery != "" && len(req.IncrementalColumns) == 0 {
		errs["incremental_columns"] = v.T("configs.incrementalColumnsForQuery")
	}

	var ok bool
	if req.Parallelism, ok = parseCount(f.Parallelism, 0, 1<<20); !ok {
		errs["parallelism"] = v.T("configs.parallelismInvalid", "Value", f.Parallelism)
	}
	if req.PreviewRows, ok = parseCount(f.PreviewRows, 0, spec.MaxPreviewRows); !ok {
		errs["preview_rows"] = v.T("configs.previewRowsInvalid", "Value", f.PreviewRows, "Max", spec.MaxPreviewRows)
	}
	return req, errs
}

// parseCount reads an optional whole number from lo to hi. Empty means 0.
func parseCount(text string, lo, hi int) (int, bool) {
	if text == "" {
		return 0, true
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// splitList reads a comma-separated list of names. Spaces around names and
// empty entries are dropped.
func splitList(text string) []string {
	var out []string
	for _, part := range strings.Split(text, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// isFileType reports whether a connection type is a file format, which has
// no tables and no load modes.
func isFileType(connectionType string) bool {
	switch spec.EndpointType(connectionType) {
	case spec.TypeCSV, spec.TypeJSONL, spec.TypeParquet:
		return true
	}
	return false
}
