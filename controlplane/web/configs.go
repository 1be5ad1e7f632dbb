package web

import (
	"context"
	"net/http"
	"sort"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
	"github.com/ferryhq/ferry/transfer/spec"
)

// recentConfigJobs is the number of a configuration's latest jobs that its
// page lists.
const recentConfigJobs = 10

func (ui *UI) configRoutes(mux *http.ServeMux) {
	ui.page(mux, "GET /configs", ui.handleConfigs)
	ui.page(mux, "GET /configs/new", ui.handleNewConfig)
	ui.page(mux, "POST /configs", ui.handleCreateConfig)
	ui.page(mux, "GET /configs/{config}", ui.handleConfig)
	ui.page(mux, "GET /configs/{config}/edit", ui.handleEditConfig)
	ui.page(mux, "POST /configs/{config}", ui.handleUpdateConfig)
	ui.page(mux, "POST /configs/{config}/run", func(w http.ResponseWriter, r *http.Request) {
		ui.runConfigJob(w, r, protocol.JobTransfer)
	})
	ui.page(mux, "POST /configs/{config}/preview", func(w http.ResponseWriter, r *http.Request) {
		ui.runConfigJob(w, r, protocol.JobPreview)
	})
}

// configNames resolves the cluster and connection IDs of configurations to
// names.
type configNames struct {
	clusters    map[string]admin.Cluster
	connections map[string]admin.Connection
}

func (ui *UI) loadConfigNames(ctx context.Context) (configNames, []admin.Cluster, []admin.Connection, error) {
	clusters, err := ui.api.ListClusters(ctx)
	if err != nil {
		return configNames{}, nil, nil, err
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
	names := configNames{clusters: make(map[string]admin.Cluster, len(clusters))}
	for _, c := range clusters {
		names.clusters[c.ID] = c
	}
	byID, conns, err := ui.connectionsByID(ctx)
	if err != nil {
		return configNames{}, nil, nil, err
	}
	names.connections = byID
	return names, clusters, conns, nil
}

// configRow is a configuration with the names of what it refers to.
type configRow struct {
	admin.Config
	// ClusterName is empty when the configuration has no cluster.
	ClusterName string
	SourceConn  admin.Connection
	DestConn    admin.Connection
}

func (n configNames) row(c admin.Config) configRow {
	row := configRow{Config: c, ClusterName: n.clusters[c.ClusterID].Name,
		SourceConn: n.connections[c.Source.Connection], DestConn: n.connections[c.Destination.Connection]}
	// A connection missing from the list (deleted in between) still shows
	// its ID.
	if row.SourceConn.ID == "" {
		row.SourceConn.Name = c.Source.Connection
	}
	if row.DestConn.ID == "" {
		row.DestConn.Name = c.Destination.Connection
	}
	if c.ClusterID != "" && row.ClusterName == "" {
		row.ClusterName = c.ClusterID
	}
	return row
}

// ModeName is the load mode of the destination as the engine applies it:
// insert when a database destination leaves it empty.
func (r configRow) ModeName() string {
	if r.Destination.Mode == "" && !isFileType(r.DestConn.Type) {
		return string(spec.ModeInsert)
	}
	return r.Destination.Mode
}

// LastRecordText is the stored incremental position as JSON, or empty.
func (r configRow) LastRecordText() string {
	return string(r.LastRecord)
}

type configsData struct {
	*view
	Configs []configRow
}

func (ui *UI) handleConfigs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cfgs, err := ui.api.ListConfigs(ctx)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	names, _, _, err := ui.loadConfigNames(ctx)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Name < cfgs[j].Name })
	rows := make([]configRow, 0, len(cfgs))
	for _, c := range cfgs {
		rows = append(rows, names.row(c))
	}
	ui.render(w, r, "configs", http.StatusOK, configsData{view: ui.newView(r, "configs"), Configs: rows})
}

type configData struct {
	*view
	Config configRow
	Jobs   []admin.Job
	// Message is the admin API's error message when it rejected a run or
	// preview.
	Message string
}

func (ui *UI) handleConfig(w http.ResponseWriter, r *http.Request) {
	ui.renderConfig(w, r, http.StatusOK, "")
}

// renderConfig shows a configuration's page, with message as an error when
// it is set.
func (ui *UI) renderConfig(w http.ResponseWriter, r *http.Request, status int, message string) {
	ctx := r.Context()
	cfg, err := ui.api.GetConfig(ctx, r.PathValue("config"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	names, _, _, err := ui.loadConfigNames(ctx)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	jobs, err := ui.api.ListJobs(ctx, admin.JobListOptions{Config: cfg.ID, Limit: recentConfigJobs})
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	ui.render(w, r, "config", status, configData{view: ui.newView(r, "configs"), Config: names.row(cfg), Jobs: jobs, Message: message})
}

// runConfigJob queues a job of the configuration and sends the browser to
// the job's page.
func (ui *UI) runConfigJob(w http.ResponseWriter, r *http.Request, jobType protocol.JobType) {
	ctx := r.Context()
	cfg, err := ui.api.GetConfig(ctx, r.PathValue("config"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	job, err := ui.api.RunJob(ctx, cfg.ID, jobType)
	if err != nil {
		// A rejection is shown on the configuration's page. A conflict
		// means that the configuration has no cluster, which a page
		// loaded before an edit removed the cluster can still post.
		v := ui.newView(r, "configs")
		status := client.StatusCode(err)
		if status == http.StatusConflict {
			ui.renderConfig(w, r, status, v.T("configs.runNoCluster"))
			return
		}
		if msg, ok := v.apiRefusal(err); ok {
			ui.renderConfig(w, r, status, msg)
			return
		}
		ui.apiFailure(w, r, err)
		return
	}
	ui.log.Info("Job queued from the web UI", "jobID", job.ID, "configID", cfg.ID, "type", string(jobType))
	http.Redirect(w, r, "/jobs/"+job.ID, http.StatusSeeOther)
}
