package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
)

// jobRoutes registers the jobs list, the job detail page with its live log,
// the full log as text and the cancel action.
func (ui *UI) jobRoutes(mux *http.ServeMux) {
	ui.page(mux, "GET /jobs", ui.handleJobs)
	ui.page(mux, "GET /jobs/events", ui.handleJobsEvents)
	ui.page(mux, "GET /jobs/{id}", ui.handleJob)
	ui.page(mux, "GET /jobs/{id}/events", ui.handleJobEvents)
	ui.page(mux, "GET /jobs/{id}/log.txt", ui.handleJobLogText)
	ui.page(mux, "POST /jobs/{id}/cancel", ui.handleJobCancel)
}

// jobListLimit is the number of jobs the list shows, newest first.
const jobListLimit = 100

// jobStates are the job states in lifecycle order, for the state filter.
var jobStates = protocol.JobStates()

// Layouts the created from/to filters accept: what a datetime-local input
// sends, with or without seconds, a date alone for the start of that day,
// and RFC 3339, which carries its own offset, for hand-written URLs.
var filterTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", filterDateLayout, time.RFC3339}

const filterDateLayout = "2006-01-02"

// The bounds of the tz filter parameter in minutes east of UTC: the
// offsets of real time zones run from UTC-12:00 to UTC+14:00.
const (
	minZoneOffset = -12 * 60
	maxZoneOffset = 14 * 60
)

// jobFilter is the jobs list filter as the user gave it in the query, with
// a message per invalid field.
type jobFilter struct {
	States  []string
	Cluster string
	// Config is a configuration ID, as the form sends it, or a name.
	Config string
	Type   string
	From   string
	To     string
	// TZ is the browser's offset from UTC in minutes east, which app.js
	// puts in a hidden field. From and To are read in that zone, and in UTC
	// when TZ is empty.
	TZ string
	// Errors maps a field (state, type, from, to, tz) to its message.
	Errors map[string]string

	options admin.JobListOptions
}

// HasState reports whether the filter selects state.
func (f jobFilter) HasState(state protocol.JobState) bool {
	return slices.Contains(f.States, string(state))
}

// Invalid reports whether any field of the filter is invalid.
func (f jobFilter) Invalid() bool { return len(f.Errors) > 0 }

// Active reports whether the filter narrows the list at all.
func (f jobFilter) Active() bool {
	return len(f.States) > 0 || f.Cluster != "" || f.Config != "" || f.Type != "" || f.From != "" || f.To != ""
}

// BrowserZone reports whether the times are read in the browser's zone
// rather than in UTC.
func (f jobFilter) BrowserZone() bool { return f.TZ != "" }

// parseJobFilter reads the filter form. The state parameter may repeat
// (one checkbox each) or hold a comma-separated list. Times are in the
// zone of the tz parameter, or in UTC without one.
func parseJobFilter(v *view, q url.Values) jobFilter {
	f := jobFilter{
		Cluster: strings.TrimSpace(q.Get("cluster")),
		Config:  strings.TrimSpace(q.Get("config")),
		Type:    strings.TrimSpace(q.Get("type")),
		From:    strings.TrimSpace(q.Get("from")),
		To:      strings.TrimSpace(q.Get("to")),
		TZ:      strings.TrimSpace(q.Get("tz")),
		Errors:  map[string]string{},
	}
	f.options = admin.JobListOptions{Cluster: f.Cluster, Config: f.Config, Limit: jobListLimit}

	for _, value := range q["state"] {
		for part := range strings.SplitSeq(value, ",") {
			part = strings.TrimSpace(part)
			if part == "" || slices.Contains(f.States, part) {
				continue
			}
			f.States = append(f.States, part)
			state := protocol.JobState(part)
			if !slices.Contains(jobStates, state) {
				f.Errors["state"] = v.T("jobs.filter.badState", "Value", part)
				continue
			}
			f.options.States = append(f.options.States, state)
		}
	}

	switch protocol.JobType(f.Type) {
	case "":
	case protocol.JobTransfer, protocol.JobPreview:
		f.options.Type = protocol.JobType(f.Type)
	default:
		f.Errors["type"] = v.T("jobs.filter.badType", "Value", f.Type)
	}

	// NOTE: tz is the browser's offset now, so a bound in the other half of
	// a daylight saving year is read one hour off.
	zone := time.UTC
	if f.TZ != "" {
		offset, err := strconv.Atoi(f.TZ)
		if err != nil || offset < minZoneOffset || offset > maxZoneOffset {
			f.Errors["tz"] = v.T("jobs.filter.badZone", "Value", f.TZ, "Min", minZoneOffset, "Max", maxZoneOffset)
		} else {
			zone = time.FixedZone("", offset*60)
		}
	}
	from, fromOK := parseFilterTime(&f.From, zone)
	if !fromOK {
		f.Errors["from"] = v.T("jobs.filter.badTime", "Value", f.From)
	}
	to, toOK := parseFilterTime(&f.To, zone)
	if !toOK {
		f.Errors["to"] = v.T("jobs.filter.badTime", "Value", f.To)
	}
	if fromOK && toOK && !from.IsZero() && !to.IsZero() && !to.After(from) {
		f.Errors["to"] = v.T("jobs.filter.toBeforeFrom", "From", f.From, "To", f.To)
	}
	f.options.Since, f.options.Until = from, to
	return f
}

// parseFilterTime reads a from/to value as a time in zone, unless it
// carries its own offset. An empty value is the zero time. A date alone is
// the start of that day, and *s becomes that day at 00:00, so that the
// datetime-local input shows it.
func parseFilterTime(s *string, zone *time.Location) (time.Time, bool) {
	if *s == "" {
		return time.Time{}, true
	}
	for _, layout := range filterTimeLayouts {
		if t, err := time.ParseInLocation(layout, *s, zone); err == nil {
			if layout == filterDateLayout {
				*s += "T00:00"
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// jobRow is one job in the list.
type jobRow struct {
	admin.Job
	// ConfigLabel is the configuration's current name, or the name it had
	// when the job was queued if the configuration is gone.
	ConfigLabel string
	ClusterName string
	// RunTime is the time the job has run; HasRunTime is false for a job
	// that never started.
	RunTime    time.Duration
	HasRunTime bool
}

// jobsPage is the data of the jobs list.
type jobsPage struct {
	*view
	Filter   jobFilter
	States   []protocol.JobState
	Clusters []admin.Cluster
	Configs  []admin.Config
	Jobs     []jobRow
	// Error is the admin API's rejection of the filter, such as an unknown
	// cluster name.
	Error string
	// Capped is set when the list contains jobListLimit jobs, so older ones
	// may be left out.
	Capped    bool
	Limit     int
	StreamURL string
}

func (ui *UI) handleJobs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := ui.newView(r, "jobs")
	data := jobsPage{view: v, Filter: parseJobFilter(v, r.URL.Query()), States: jobStates, Limit: jobListLimit}

	var err error
	if data.Clusters, err = ui.api.ListClusters(ctx); err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	if data.Configs, err = ui.api.ListConfigs(ctx); err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	if data.Filter.Invalid() {
		ui.render(w, r, "jobs", http.StatusUnprocessableEntity, data)
		return
	}
	if err := ui.loadJobRows(r, &data); err != nil {
		msg, ok := apiMessage(err)
		if !ok {
			ui.apiFailure(w, r, err)
			return
		}
		data.Error = data.filterRefusal(err, msg)
		ui.render(w, r, "jobs", http.StatusUnprocessableEntity, data)
		return
	}
	data.StreamURL = "/jobs/events"
	if r.URL.RawQuery != "" {
		data.StreamURL += "?" + r.URL.RawQuery
	}
	ui.render(w, r, "jobs", http.StatusOK, data)
}

// filterRefusal words the admin API's rejection of the filter. An unknown
// configuration or cluster, such as one in an old bookmark, gets a
// catalogue message. Any other rejection shows the API's message.
func (d *jobsPage) filterRefusal(err error, msg string) string {
	if client.StatusCode(err) == http.StatusNotFound {
		if d.Filter.Config != "" && !slices.ContainsFunc(d.Configs, func(c admin.Config) bool {
			return c.ID == d.Filter.Config || c.Name == d.Filter.Config
		}) {
			return d.T("jobs.filter.unknownConfig", "Name", showBidiControls(d.Filter.Config))
		}
		if d.Filter.Cluster != "" && !slices.ContainsFunc(d.Clusters, func(c admin.Cluster) bool {
			return c.ID == d.Filter.Cluster || c.Name == d.Filter.Cluster
		}) {
			return d.T("jobs.filter.unknownCluster", "Name", showBidiControls(d.Filter.Cluster))
		}
	}
	return d.apiText(msg)
}

// loadJobRows lists the jobs that match data.Filter into data.Jobs.
func (ui *UI) loadJobRows(r *http.Request, data *jobsPage) error {
	jobs, err := ui.api.ListJobs(r.Context(), data.Filter.options)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(data.Clusters))
	for _, c := range data.Clusters {
		names[c.ID] = c.Name
	}
	configNames := make(map[string]string, len(data.Configs))
	for _, c := range data.Configs {
		configNames[c.ID] = c.Name
	}
	now := ui.opts.Now()
	data.Jobs = make([]jobRow, 0, len(jobs))
	for _, j := range jobs {
		row := jobRow{Job: j, ConfigLabel: configNames[j.ConfigID], ClusterName: names[j.ClusterID]}
		if row.ConfigLabel == "" {
			row.ConfigLabel = j.ConfigName
		}
		row.RunTime, row.HasRunTime = jobRunTime(j, now)
		data.Jobs = append(data.Jobs, row)
	}
	data.Capped = len(jobs) >= jobListLimit
	return nil
}

// handleJobsEvents streams the table body of the jobs list for the filter
// in the query, so running jobs move on without a reload.
func (ui *UI) handleJobsEvents(w http.ResponseWriter, r *http.Request) {
	v := ui.newView(r, "jobs")
	filter := parseJobFilter(v, r.URL.Query())
	if filter.Invalid() {
		http.Error(w, "invalid job filter; reload the jobs page to see which value to fix", http.StatusBadRequest)
		return
	}
	ui.stream(w, r, func(r *http.Request) ([]update, bool, error) {
		data := jobsPage{view: v, Filter: filter, Limit: jobListLimit}
		clusters, err := ui.api.ListClusters(r.Context())
		if err != nil {
			return nil, false, err
		}
		data.Clusters = clusters
		// Configurations are read on every tick, so a renamed one shows its
		// new name.
		if data.Configs, err = ui.api.ListConfigs(r.Context()); err != nil {
			return nil, false, err
		}
		if err := ui.loadJobRows(r, &data); err != nil {
			return nil, false, err
		}
		body, err := ui.fragment("jobs", "jobs-body", data)
		if err != nil {
			return nil, false, err
		}
		return []update{{Target: "jobs-body", HTML: body}}, false, nil
	})
}

// jobRunTime returns how long a job has run: until it finished, or until
// now while it runs. It returns false for a job that never started.
func jobRunTime(j admin.Job, now time.Time) (time.Duration, bool) {
	if j.StartedAt == nil || j.StartedAt.IsZero() {
		return 0, false
	}
	end := now
	if j.FinishedAt != nil && !j.FinishedAt.IsZero() {
		end = *j.FinishedAt
	}
	return max(end.Sub(*j.StartedAt), 0), true
}
