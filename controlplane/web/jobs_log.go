package web

import (
	"bufio"
	"context"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/controlplane/admin"
)

// logPageSize is the number of lines read per admin API call when the whole
// log is needed: the most the API returns at once.
const logPageSize = 10000

// jobLog is the part of a job's log that a page shows.
type jobLog struct {
	Lines []logLine
	// Total counts every line of the job. Truncated is set when Lines
	// contains only the last ones.
	Total     int
	Truncated bool
	// LastID and LastEpoch belong to the last line, for the live stream to
	// go on from.
	LastID    int64
	LastEpoch int64
}

// logLine is one log line as the page shows it.
type logLine struct {
	admin.LogLine
	// NewAttempt is set on the first line of an attempt after the first.
	NewAttempt bool
}

// LevelClass returns the CSS class suffix of the line's level, "other" for
// a level the UI does not know.
func (l logLine) LevelClass() string {
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "error":
		return strings.ToLower(l.Level)
	}
	return "other"
}

// LevelText returns the line's level in capitals, as log viewers show it.
func (l logLine) LevelText() string { return strings.ToUpper(l.Level) }

// Clock returns the line's time of day in UTC, to the millisecond. The page
// shows it without JavaScript; app.js turns it into the browser's zone.
func (l logLine) Clock() string { return l.Time.UTC().Format("15:04:05.000Z") }

// Stamp returns the line's full time in UTC.
func (l logLine) Stamp() string { return l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// markAttempts wraps lines for display. previousEpoch is the attempt of the
// line shown before them, 0 for none.
func markAttempts(lines []admin.LogLine, previousEpoch int64) []logLine {
	out := make([]logLine, len(lines))
	for i, l := range lines {
		out[i] = logLine{LogLine: l, NewAttempt: l.Epoch != previousEpoch && (previousEpoch != 0 || l.Epoch > 1)}
		previousEpoch = l.Epoch
	}
	return out
}

// tailJobLog reads a job's whole log and keeps its last keep lines.
// NOTE: the admin API pages forward only, so a log of n lines costs n/10000
// calls on every page load.
func (ui *UI) tailJobLog(ctx context.Context, jobID string, keep int) (jobLog, error) {
	ring := make([]admin.LogLine, 0, keep)
	next, total := 0, 0
	var after int64
	for {
		page, err := ui.api.JobLogs(ctx, jobID, after, logPageSize)
		if err != nil {
			return jobLog{}, err
		}
		for _, l := range page.Lines {
			if len(ring) < keep {
				ring = append(ring, l)
			} else {
				ring[next] = l
				next = (next + 1) % keep
			}
			total++
		}
		after = page.Next
		if len(page.Lines) < logPageSize {
			break
		}
	}
	// Put the ring in order: the oldest kept line is at next.
	ordered := append(append([]admin.LogLine{}, ring[next:]...), ring[:next]...)
	out := jobLog{Total: total, Truncated: total > len(ordered), LastID: after}
	if len(ordered) > 0 {
		out.LastEpoch = ordered[len(ordered)-1].Epoch
		out.Lines = markAttempts(ordered, 0)
		if out.Truncated {
			// The attempt of the line before the first shown is unknown, so
			// mark the first line only if it is not from the first attempt.
			out.Lines[0].NewAttempt = ordered[0].Epoch > 1
		}
	}
	return out, nil
}

// handleJobLogText serves a job's whole log as plain text, one line each:
// time in UTC, level and message.
func (ui *UI) handleJobLogText(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	page, err := ui.api.JobLogs(ctx, id, 0, logPageSize)
	if err != nil {
		ui.apiFailure(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	out := bufio.NewWriter(w)
	for {
		for _, l := range page.Lines {
			level := strings.ToUpper(l.Level)
			if level == "" {
				level = "-"
			}
			// Each line of a multi-line message keeps the line's prefix, so
			// every line of the file starts with a time.
			for msgLine := range strings.SplitSeq(l.Message, "\n") {
				if _, err := out.WriteString(logLine{LogLine: l}.Stamp() + " " + level + " " + msgLine + "\n"); err != nil {
					return
				}
			}
		}
		if len(page.Lines) < logPageSize {
			break
		}
		after := page.Next
		if page, err = ui.api.JobLogs(ctx, id, after, logPageSize); err != nil {
			// The status is sent already, so the file ends with a note.
			ui.log.Error("Failed to read a job log page", "jobID", id, "after", after, "error", err)
			_, _ = out.WriteString("\n" + ui.newView(r, "jobs").T("jobs.log.textTruncated") + "\n")
			break
		}
	}
	_ = out.Flush()
}
