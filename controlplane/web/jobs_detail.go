package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/protocol/client"
	"github.com/ferryhq/ferry/transfer/spec"
)

// staleRate is the age of a running job's last progress sample beyond
// which the current rate shows as zero. The control plane stores a sample
// only when rows or bytes changed, so a stalled job leaves its last rate
// behind.
// NOTE: three times the engine's default progress interval of 5 s; a
// runner that reports less often shows a zero rate between reports.
const staleRate = 15 * time.Second

// jobPage is the data of the job detail page. The summary, preview and log
// fragments re-render from it on every live update.
type jobPage struct {
	*view
	Job      admin.Job
	Terminal bool
	// ConfigName is the configuration's current name, or the name it had
	// when the job was queued if the configuration is gone.
	ConfigName  string
	ClusterName string
	RunnerName  string
	RunTime     time.Duration
	HasRunTime  bool
	Progress    jobProgress
	// RateNow is the rate of the last interval between two progress
	// samples, while the job runs.
	RateNow    float64
	HasRateNow bool
	// RateAverage is the rows over the run time.
	RateAverage    float64
	HasRateAverage bool
	// Samples counts the progress samples of the current attempt.
	Samples int
	Chart   *rateChart
	Preview *previewTable
	Log     jobLog
	// StreamURL follows the job while it has not ended.
	StreamURL string
	// Notice is a message after a redirect, such as a cancel that came
	// after the job had ended.
	Notice string
	// NoCluster and NoRunnerOnline explain why a queued job waits: it has
	// no cluster, or no runner of its cluster is IDLE or ACTIVE.
	// NOTE: the admin API queues no job without a cluster and the store
	// requires one, so NoCluster is set only for a job stored otherwise.
	NoCluster      bool
	NoRunnerOnline bool
}

// jobProgress is the state of the progress bar. Without a known total the
// bar is indeterminate while the job runs, and hidden once it failed or
// was cancelled.
type jobProgress struct {
	Indeterminate bool
	Hidden        bool
	Value, Max    int64
}

// Percent returns the share of the bar that is full, 0 to 100.
func (p jobProgress) Percent() int64 {
	if p.Max <= 0 {
		return 0
	}
	return min(100, p.Value*100/p.Max)
}

// previewTable is the result of a preview job as the page shows it.
type previewTable struct {
	Columns  []protocol.Column
	Rows     [][]previewCell
	Withheld bool
}

// previewCell is one value of a sample row. A long value shows only its
// first previewCellChars characters, so one wide column cannot make the
// page thousands of screens tall.
type previewCell struct {
	Null bool
	Text string
	// Structured marks a JSON object or array, shown as JSON.
	Structured bool
	// Length counts the characters of a shortened value; it is 0 when Text
	// is the whole value.
	Length int
	// Full is the whole value of a shortened one, for the cell's tooltip,
	// when it has at most previewTitleChars characters.
	Full string
}

// Limits of a preview cell: the characters shown, and the characters of a
// shortened value that still go into its tooltip.
const (
	previewCellChars  = 200
	previewTitleChars = 4096
)

// shortened cuts a cell's text to previewCellChars characters.
func (c previewCell) shortened() previewCell {
	n := utf8.RuneCountInString(c.Text)
	if n <= previewCellChars {
		return c
	}
	if n <= previewTitleChars {
		c.Full = c.Text
	}
	cut := 0
	for i := range c.Text {
		if cut == previewCellChars {
			c.Text = c.Text[:i] + "…"
			break
		}
		cut++
	}
	c.Length = n
	return c
}

// jobNames caches what a job page looks up, once per page or stream: the
// names of clusters and runners by ID, and configurations by ID.
type jobNames struct {
	clusters map[string]string
	runners  map[string]string
	// configs maps configuration IDs to configurations. The ID of a
	// configuration that is gone maps to the zero Config.
	configs map[string]admin.Config
}

func newJobNames() *jobNames {
	return &jobNames{clusters: map[string]string{}, runners: map[string]string{}, configs: map[string]admin.Config{}}
}

// cluster returns the name of a cluster, or its ID when the API does not
// know it.
func (n *jobNames) cluster(ctx context.Context, api *admin.Client, id string) (string, error) {
	if name, ok := n.clusters[id]; ok || id == "" {
		return name, nil
	}
	c, err := api.GetCluster(ctx, id)
	if err != nil {
		if _, refused := apiMessage(err); !refused {
			return "", err
		}
		c.Name = id
	}
	n.clusters[id] = c.Name
	return c.Name, nil
}

// runner returns the name of a runner of the cluster, or its ID when the
// cluster lists no such runner.
func (n *jobNames) runner(ctx context.Context, api *admin.Client, clusterID, id string) (string, error) {
	if name, ok := n.runners[id]; ok || id == "" {
		return name, nil
	}
	runners, err := api.ListRunners(ctx, clusterID)
	if err != nil {
		if _, refused := apiMessage(err); !refused {
			return "", err
		}
	}
	for _, r := range runners {
		n.runners[r.ID] = r.Name
	}
	if _, ok := n.runners[id]; !ok {
		n.runners[id] = id
	}
	return n.runners[id], nil
}

// config returns the configuration with the ID, or the zero Config when it
// is gone.
func (n *jobNames) config(ctx context.Context, api *admin.Client, id string) (admin.Config, error) {
	if cfg, ok := n.configs[id]; ok || id == "" {
		return cfg, nil
	}
	cfg, err := api.GetConfig(ctx, id)
	if err != nil {
		if _, refused := apiMessage(err); !refused {
			return admin.Config{}, err
		}
		cfg = admin.Config{}
	}
	n.configs[id] = cfg
	return cfg, nil
}

// previewRowCount returns the number of rows a preview of the configuration
// reads, or 0 when the configuration is gone.
func (n *jobNames) previewRowCount(ctx context.Context, api *admin.Client, configID string) (int, error) {
	cfg, err := n.config(ctx, api, configID)
	if err != nil || cfg.ID == "" {
		return 0, err
	}
	if cfg.PreviewRows == 0 {
		return spec.DefaultPreviewRows, nil
	}
	return cfg.PreviewRows, nil
}

// loadJobPage reads a job and everything its summary shows, without the
// log.
func (ui *UI) loadJobPage(ctx context.Context, v *view, id string, names *jobNames) (jobPage, error) {
	job, err := ui.api.GetJob(ctx, id)
	if err != nil {
		return jobPage{}, err
	}
	d := jobPage{view: v, Job: job, Terminal: job.State.IsTerminal(), ConfigName: job.ConfigName}
	cfg, err := names.config(ctx, ui.api, job.ConfigID)
	if err != nil {
		return jobPage{}, err
	}
	if cfg.Name != "" {
		d.ConfigName = cfg.Name
	}
	if d.ClusterName, err = names.cluster(ctx, ui.api, job.ClusterID); err != nil {
		return jobPage{}, err
	}
	if d.RunnerName, err = names.runner(ctx, ui.api, job.ClusterID, job.RunnerID); err != nil {
		return jobPage{}, err
	}
	if job.State == protocol.StateQueued {
		if job.ClusterID == "" {
			d.NoCluster = true
		} else if d.NoRunnerOnline, err = ui.noRunnerOnline(ctx, job.ClusterID); err != nil {
			return jobPage{}, err
		}
	}
	progress, err := ui.api.JobProgress(ctx, id)
	if err != nil {
		return jobPage{}, err
	}
	for _, s := range progress.Samples {
		if s.Epoch == job.Epoch {
			d.Samples++
		}
	}

	now := ui.opts.Now()
	d.RunTime, d.HasRunTime = jobRunTime(job, now)
	intervals := rateIntervals(progress.Samples, job.Epoch, job.StartedAt)
	d.Chart = newRateChart(intervals)
	if job.State == protocol.StateRunning && len(intervals) > 0 {
		last := intervals[len(intervals)-1]
		d.RateNow, d.HasRateNow = last.rate, true
		if now.Sub(last.end) > staleRate {
			d.RateNow = 0
		}
	}
	runTime := d.RunTime
	if job.Result != nil && job.Result.DurationSeconds > 0 {
		runTime = time.Duration(job.Result.DurationSeconds * float64(time.Second))
	}
	if (d.HasRunTime || job.Result != nil) && runTime > 0 {
		d.RateAverage, d.HasRateAverage = float64(job.Rows)/runTime.Seconds(), true
	}

	expected := 0
	if job.Type == protocol.JobPreview {
		if job.Preview != nil {
			d.Preview = newPreviewTable(job.Preview)
		} else if expected, err = names.previewRowCount(ctx, ui.api, job.ConfigID); err != nil {
			return jobPage{}, err
		}
	}
	d.Progress = progressOf(job, expected)
	return d, nil
}

// noRunnerOnline reports whether the cluster has no runner that is IDLE or
// ACTIVE, so a queued job of it waits until one joins. The runners are read
// on every call, because they come and go while a page follows the job.
func (ui *UI) noRunnerOnline(ctx context.Context, clusterID string) (bool, error) {
	runners, err := ui.api.ListRunners(ctx, clusterID)
	if err != nil {
		if _, refused := apiMessage(err); !refused {
			return false, err
		}
	}
	for _, r := range runners {
		if r.State == string(protocol.RunnerIdle) || r.State == string(protocol.RunnerActive) {
			return false, nil
		}
	}
	return true, nil
}

// progressOf returns the progress bar of a job. Only a preview has a known
// total, the rows it reads. A succeeded job and a preview with its sample
// fill the bar. A job that failed or was cancelled shows its rows of the
// total when the total is known, and no bar when it is not: the engine's
// result counts the rows written, not the rows the source had.
func progressOf(job admin.Job, previewTotal int) jobProgress {
	switch {
	case job.State == protocol.StateSucceeded, job.Type == protocol.JobPreview && job.Preview != nil:
		return jobProgress{Value: 1, Max: 1}
	case previewTotal > 0 && (job.State == protocol.StateRunning || job.State.IsTerminal()):
		return jobProgress{Value: min(job.Rows, int64(previewTotal)), Max: int64(previewTotal)}
	case job.State == protocol.StateRunning:
		return jobProgress{Indeterminate: true}
	case job.State.IsTerminal():
		return jobProgress{Hidden: true}
	}
	return jobProgress{Value: 0, Max: 1}
}

// newPreviewTable decodes the sample rows of a preview for display.
func newPreviewTable(p *protocol.PreviewRequest) *previewTable {
	t := &previewTable{Columns: p.Columns, Withheld: p.RowsWithheld}
	for _, row := range p.Rows {
		cells := make([]previewCell, len(row))
		for i, raw := range row {
			cells[i] = newPreviewCell(raw).shortened()
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

func newPreviewCell(raw json.RawMessage) previewCell {
	var value any
	if len(raw) == 0 || json.Unmarshal(raw, &value) != nil {
		return previewCell{Text: string(raw)}
	}
	switch x := value.(type) {
	case nil:
		return previewCell{Null: true}
	case string:
		return previewCell{Text: x}
	case map[string]any, []any:
		return previewCell{Text: string(raw), Structured: true}
	}
	// Numbers and booleans keep their JSON text, so no digit is lost.
	return previewCell{Text: string(raw)}
}

// jobLogTail is the number of log lines the job page renders.
const jobLogTail = 1000

func (ui *UI) handleJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	d, err := ui.loadJobPage(ctx, ui.newView(r, "jobs"), id, newJobNames())
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	if d.Log, err = ui.tailJobLog(ctx, id, jobLogTail); err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	if r.URL.Query().Get("notice") == "ended" && d.Terminal {
		d.Notice = d.T("jobs.cancel.alreadyEnded", "State", d.T("state."+string(d.Job.State)))
	}
	if !d.Terminal {
		q := url.Values{}
		q.Set("after", strconv.FormatInt(d.Log.LastID, 10))
		q.Set("epoch", strconv.FormatInt(d.Log.LastEpoch, 10))
		d.StreamURL = "/jobs/" + url.PathEscape(id) + "/events?" + q.Encode()
	}
	ui.render(w, r, "job", http.StatusOK, d)
}

// jobStreamLogLimit is the most log lines one live update appends; more
// follow on the next tick.
// NOTE: the browser keeps every appended line, so following a very long
// log for hours grows the page without bound.
const jobStreamLogLimit = 1000

// handleJobEvents follows a job: on every tick it replaces the summary (and
// a preview's result) and appends the log lines after the last one sent.
// Once the job has ended and a tick brings no more lines, it sends the
// final summary and ends the stream.
//
// The log goes on after the Last-Event-ID header when the browser sends
// one, as it does when it reconnects, and else after the query's after and
// epoch, which the page fills in when it loads.
func (ui *UI) handleJobEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	after, epoch, err := jobStreamCursor(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v := ui.newView(r, "jobs")
	names := newJobNames()
	ui.stream(w, r, func(r *http.Request) ([]update, bool, error) {
		ctx := r.Context()
		// The job is read before its log, so every line stored before the
		// job ended is in this read or an earlier one. A line a runner
		// delivers after the stream ends shows on the next page load.
		d, err := ui.loadJobPage(ctx, v, id, names)
		if err != nil {
			return nil, false, err
		}
		logs, err := ui.api.JobLogs(ctx, id, after, jobStreamLogLimit)
		if err != nil {
			return nil, false, err
		}
		summary, err := ui.fragment("job", "job-summary", d)
		if err != nil {
			return nil, false, err
		}
		updates := []update{{Target: "job-summary", HTML: summary}}
		if d.Job.Type == protocol.JobPreview {
			preview, err := ui.fragment("job", "job-preview", d)
			if err != nil {
				return nil, false, err
			}
			updates = append(updates, update{Target: "job-preview", HTML: preview})
		}
		if len(logs.Lines) > 0 {
			d.Log = jobLog{Lines: markAttempts(logs.Lines, epoch)}
			lines, err := ui.fragment("job", "log-lines", d)
			if err != nil {
				return nil, false, err
			}
			after, epoch = logs.Next, logs.Lines[len(logs.Lines)-1].Epoch
			updates = append(updates, update{Target: "log", HTML: lines, Append: true, ID: logEventID(after, epoch)})
		}
		done := d.Terminal && len(logs.Lines) == 0
		return updates, done, nil
	})
}

// logEventID returns the event ID of a log update: the ID of the last
// line sent and its attempt, as "12:1".
func logEventID(lineID, epoch int64) string {
	return strconv.FormatInt(lineID, 10) + ":" + strconv.FormatInt(epoch, 10)
}

// jobStreamCursor returns the log line ID to follow the job after and the
// attempt of that line, from the Last-Event-ID header if the request has
// one, else from the after and epoch parameters. Missing values are 0.
func jobStreamCursor(r *http.Request) (after, epoch int64, err error) {
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		lineID, lineEpoch, found := strings.Cut(last, ":")
		after, err = parseStreamCursor(lineID)
		if err == nil && found {
			epoch, err = parseStreamCursor(lineEpoch)
		}
		if err != nil || !found {
			return 0, 0, fmt.Errorf("header Last-Event-ID is %q; use the id of the last log update, such as 12:1, or send none", last)
		}
		return after, epoch, nil
	}
	q := r.URL.Query()
	if after, err = parseStreamCursor(q.Get("after")); err != nil {
		return 0, 0, fmt.Errorf("after is %q; use the ID of the last log line shown, or 0", q.Get("after"))
	}
	if epoch, err = parseStreamCursor(q.Get("epoch")); err != nil {
		return 0, 0, fmt.Errorf("epoch is %q; use the attempt of the last log line shown, or 0", q.Get("epoch"))
	}
	return after, epoch, nil
}

func parseStreamCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid cursor %q", s)
	}
	return n, nil
}

// handleJobCancel cancels a job that has not ended and returns to its page.
// A job that ended before the cancel arrived, for example after a cancel
// from another tab, gets its page with a notice of how it ended.
func (ui *UI) handleJobCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	jobPath := "/jobs/" + url.PathEscape(id)
	if _, err := ui.api.CancelJob(r.Context(), id); err != nil {
		// The admin API rejects the cancel of an ended job with 409 Conflict.
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict {
			http.Redirect(w, r, jobPath+"?notice=ended", http.StatusSeeOther)
			return
		}
		ui.apiFailure(w, r, err)
		return
	}
	ui.log.Info("Job cancelled from the web UI", "jobID", id)
	http.Redirect(w, r, jobPath, http.StatusSeeOther)
}
