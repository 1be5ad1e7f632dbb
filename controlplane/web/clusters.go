package web

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol/client"
)

func (ui *UI) clusterRoutes(mux *http.ServeMux) {
	ui.page(mux, "GET /clusters", ui.handleClusters)
	ui.page(mux, "POST /clusters", ui.handleCreateCluster)
	ui.page(mux, "GET /clusters/{cluster}", ui.handleCluster)
	ui.page(mux, "GET /clusters/{cluster}/events", ui.handleClusterEvents)
	ui.page(mux, "POST /clusters/{cluster}/tokens", ui.handleCreateToken)
	ui.page(mux, "GET /clusters/{cluster}/tokens/{tokenID}", ui.handleShowToken)
	ui.page(mux, "POST /clusters/{cluster}/tokens/{tokenID}/revoke", ui.handleRevokeToken)
}

// Runner states as the admin API reports them.
const (
	runnerIdle    = "IDLE"
	runnerActive  = "ACTIVE"
	runnerOffline = "OFFLINE"
)

// RunnerStateText returns what a runner state means, in the view's
// language, to show next to the state, or "" for a state it does not know.
func (v *view) RunnerStateText(state string) string {
	switch state {
	case runnerIdle, runnerActive, runnerOffline:
		return v.T("clusters.runnerState." + state)
	}
	return ""
}

// clusterRow is one line of the clusters table.
type clusterRow struct {
	admin.Cluster
	LiveTokens int
	Idle       int
	Active     int
	Offline    int
}

// clusterForm is the create-cluster form as the user filled it in.
type clusterForm struct {
	Name      string
	NameError string
	Invalid   bool
}

type clustersData struct {
	*view
	Clusters  []clusterRow
	MaxTokens int
	Form      clusterForm
}

func (ui *UI) handleClusters(w http.ResponseWriter, r *http.Request) {
	ui.renderClusters(w, r, http.StatusOK, clusterForm{})
}

// renderClusters shows the clusters table and the create form.
func (ui *UI) renderClusters(w http.ResponseWriter, r *http.Request, status int, form clusterForm) {
	ctx := r.Context()
	clusters, err := ui.api.ListClusters(ctx)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	runners, err := ui.api.ListRunners(ctx, "")
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	rows := make([]clusterRow, 0, len(clusters))
	byID := make(map[string]*clusterRow, len(clusters))
	for _, c := range clusters {
		tokens, err := ui.api.ListTokens(ctx, c.ID)
		if err != nil {
			ui.apiFailure(w, r, err)
			return
		}
		rows = append(rows, clusterRow{Cluster: c, LiveTokens: countLiveTokens(tokens)})
	}
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for _, rn := range runners {
		row, ok := byID[rn.ClusterID]
		if !ok {
			continue
		}
		switch rn.State {
		case runnerIdle:
			row.Idle++
		case runnerActive:
			row.Active++
		case runnerOffline:
			row.Offline++
		}
	}
	ui.render(w, r, "clusters", status, clustersData{view: ui.newView(r, "clusters"), Clusters: rows,
		MaxTokens: admin.MaxTokensPerCluster, Form: form})
}

func (ui *UI) handleCreateCluster(w http.ResponseWriter, r *http.Request) {
	v := ui.newView(r, "clusters")
	form := clusterForm{Name: strings.TrimSpace(r.PostFormValue("name"))}
	errs := map[string]string{}
	checkResourceName(v, errs, "name", form.Name)
	form.NameError = errs["name"]
	if form.NameError == "" {
		c, err := ui.api.CreateCluster(r.Context(), form.Name)
		if err == nil {
			ui.log.Info("Cluster created in the web UI", "clusterID", c.ID, "clusterName", c.Name)
			http.Redirect(w, r, clusterPath(c.Name)+"?notice=created", http.StatusSeeOther)
			return
		}
		nameError, message, ok := v.formRejection(err, "clusters.nameTaken", form.Name)
		if !ok {
			ui.apiFailure(w, r, err)
			return
		}
		// The form shows every rejection under the name, its only field.
		form.NameError = cmp.Or(nameError, message)
	}
	form.Invalid = true
	ui.renderClusters(w, r, http.StatusUnprocessableEntity, form)
}

// clusterPath is the cluster page. Cluster names are URL-safe by their
// pattern.
func clusterPath(name string) string { return "/clusters/" + name }

func countLiveTokens(tokens []admin.Token) int {
	live := 0
	for _, t := range tokens {
		if t.RevokedAt == nil {
			live++
		}
	}
	return live
}

// clusterData is the cluster page: tokens and runners.
type clusterData struct {
	*view
	Cluster    admin.Cluster
	Tokens     []admin.Token
	LiveTokens int
	MaxTokens  int
	Runners    []admin.Runner
	// Notice is a message after a redirect, such as a revoked token.
	Notice string
	// TokenError is the admin API's reason for rejecting a new token.
	TokenError string
}

// CanCreateToken reports whether the cluster has room for another live
// registration token.
func (d clusterData) CanCreateToken() bool { return d.LiveTokens < d.MaxTokens }

// clusterNotices maps the notice query parameter to its message, so that a
// link cannot put arbitrary text on the page.
var clusterNotices = map[string]string{
	"created":    "clusters.noticeCreated",
	"revoked":    "clusters.noticeRevoked",
	"tokenShown": "clusters.noticeTokenShown",
	// alreadyRevoked follows a revoke of a token that was revoked before.
	"alreadyRevoked": "clusters.noticeAlreadyRevoked",
}

func (ui *UI) handleCluster(w http.ResponseWriter, r *http.Request) {
	data, ok := ui.loadCluster(w, r)
	if !ok {
		return
	}
	if id, ok := clusterNotices[r.URL.Query().Get("notice")]; ok {
		data.Notice = data.T(id)
	}
	ui.render(w, r, "cluster", http.StatusOK, data)
}

// loadCluster reads the cluster of the request's path with its tokens and
// runners. On failure it writes the error page and returns false.
func (ui *UI) loadCluster(w http.ResponseWriter, r *http.Request) (clusterData, bool) {
	ctx := r.Context()
	c, err := ui.api.GetCluster(ctx, r.PathValue("cluster"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return clusterData{}, false
	}
	tokens, err := ui.api.ListTokens(ctx, c.ID)
	if err != nil {
		ui.apiFailure(w, r, err)
		return clusterData{}, false
	}
	runners, err := ui.api.ListRunners(ctx, c.ID)
	if err != nil {
		ui.apiFailure(w, r, err)
		return clusterData{}, false
	}
	return clusterData{
		view: ui.newView(r, "clusters"), Cluster: c, Tokens: tokens, LiveTokens: countLiveTokens(tokens),
		MaxTokens: admin.MaxTokensPerCluster, Runners: runners,
	}, true
}

// handleClusterEvents streams the runners table of a cluster.
func (ui *UI) handleClusterEvents(w http.ResponseWriter, r *http.Request) {
	c, err := ui.api.GetCluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	ui.stream(w, r, func(r *http.Request) ([]update, bool, error) {
		runners, err := ui.api.ListRunners(r.Context(), c.ID)
		if err != nil {
			return nil, false, err
		}
		data := clusterData{view: ui.newView(r, "clusters"), Cluster: c, Runners: runners}
		if len(runners) == 0 {
			// The empty table's help depends on whether a token exists.
			tokens, err := ui.api.ListTokens(r.Context(), c.ID)
			if err != nil {
				return nil, false, err
			}
			data.LiveTokens = countLiveTokens(tokens)
		}
		html, err := ui.fragment("cluster", "runners", data)
		if err != nil {
			return nil, false, err
		}
		return []update{{Target: "runners", HTML: html}}, false, nil
	})
}

func (ui *UI) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := ui.api.GetCluster(ctx, r.PathValue("cluster"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	tokenID := r.PathValue("tokenID")
	if err := ui.api.RevokeToken(ctx, c.ID, tokenID); err != nil {
		// A second click, or a stale page in another tab: the token is
		// already revoked, which is what the admin wanted.
		if client.StatusCode(err) == http.StatusNotFound && ui.tokenRevoked(r, c.ID, tokenID) {
			http.Redirect(w, r, clusterPath(c.Name)+"?notice=alreadyRevoked", http.StatusSeeOther)
			return
		}
		ui.apiFailure(w, r, err)
		return
	}
	ui.log.Info("Registration token revoked in the web UI", "clusterID", c.ID, "tokenID", tokenID)
	http.Redirect(w, r, clusterPath(c.Name)+"?notice=revoked", http.StatusSeeOther)
}

// tokenRevoked reports whether the cluster has the token and it is
// revoked.
func (ui *UI) tokenRevoked(r *http.Request, clusterID, tokenID string) bool {
	tokens, err := ui.api.ListTokens(r.Context(), clusterID)
	if err != nil {
		return false
	}
	for _, t := range tokens {
		if t.ID == tokenID {
			return t.RevokedAt != nil
		}
	}
	return false
}

func (ui *UI) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := ui.api.GetCluster(ctx, r.PathValue("cluster"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	tok, err := ui.api.CreateToken(ctx, c.ID)
	if err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			ui.apiFailure(w, r, err)
			return
		}
		// The API rejected the token, most likely because the cluster
		// already has two live tokens. Show the cluster page with its reason.
		data, ok := ui.loadCluster(w, r)
		if !ok {
			return
		}
		data.TokenError = data.apiText(msg)
		if client.StatusCode(err) == http.StatusConflict {
			data.TokenError = data.T("clusters.tokenLimit", "Max", admin.MaxTokensPerCluster)
		}
		ui.render(w, r, "cluster", client.StatusCode(err), data)
		return
	}
	ui.log.Info("Registration token created in the web UI", "clusterID", c.ID, "tokenID", tok.ID)
	if err := ui.setTokenFlash(w, r, c, tok); err != nil {
		ui.log.Error("Failed to keep a new registration token for its page", "clusterID", c.ID, "tokenID", tok.ID, "error", err)
		v := ui.newView(r, "")
		ui.errorPage(w, r, http.StatusInternalServerError, "error.internal", v.T("error.internalHelp"))
		return
	}
	http.Redirect(w, r, tokenPath(c.Name, tok.ID), http.StatusSeeOther)
}

// handleShowToken shows a new registration token once: the flash cookie
// that carries it is cleared, so a reload goes to the cluster page.
func (ui *UI) handleShowToken(w http.ResponseWriter, r *http.Request) {
	c, err := ui.api.GetCluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	tok, ok := ui.takeTokenFlash(w, r, c)
	if !ok {
		http.Redirect(w, r, clusterPath(c.Name)+"?notice=tokenShown", http.StatusSeeOther)
		return
	}
	v := ui.newView(r, "clusters")
	// Switching the language reloads the page, which then has no token.
	v.LangLocked = true
	// render sets Cache-Control: no-store, so the token stays out of
	// caches.
	ui.render(w, r, "token", http.StatusOK, newTokenData(v, c, tok, ui.publicURL(r)))
}

// publicURL is the control plane URL for runners: Options.PublicURL, or the
// scheme and host the browser used.
func (ui *UI) publicURL(r *http.Request) string {
	if ui.opts.PublicURL != "" {
		return ui.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
