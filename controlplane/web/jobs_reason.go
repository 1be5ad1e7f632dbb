package web

import (
	"slices"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
)

// jobReasons are the reasons the control plane and runners end a job with,
// each explained by the catalogue message jobs.reason.<reason>. Reasons the
// operator reports, such as OOMKilled, have no message and show as they are.
var jobReasons = []string{
	protocol.ReasonLostByRunner,
	protocol.ReasonRunnerOffline,
	protocol.ReasonLeaseExpired,
	protocol.ReasonEngineFailed,
	protocol.ReasonResultMissing,
	protocol.ReasonCancelRequested,
	protocol.ReasonJobNotFound,
	protocol.ReasonJobFinished,
	protocol.ReasonSuperseded,
}

// JobReasonText returns the explanation of a job's reason in the view's
// language, or "" for a reason the catalogue does not explain.
func (v *view) JobReasonText(reason string) string {
	if !slices.Contains(jobReasons, reason) {
		return ""
	}
	return v.T("jobs.reason." + reason)
}

// JobMessage returns the message of an ended job as the page shows it
// below the explanation. A lead-in names who wrote the English message:
// the engine for EngineFailed (its result's error), the control plane for
// the other reasons of jobReasons, and the runner for any other reason,
// which comes with the runner's status report. A cancel by a user shows no
// message, because the control plane's message names the admin API even
// when the user cancelled in the UI.
func (v *view) JobMessage(job admin.Job) string {
	switch {
	case job.Message == "" || job.Reason == protocol.ReasonCancelRequested:
		return ""
	case job.Reason == protocol.ReasonEngineFailed:
		return v.T("jobs.message.engine", "Message", job.Message)
	case slices.Contains(jobReasons, job.Reason):
		return v.apiText(job.Message)
	}
	return v.T("jobs.message.runner", "Message", job.Message)
}

// JobRunnerReport reports whether the job page shows the runner's last
// report next to the job's reason. It does not when the report repeats
// what the reason badge shows: the job ended with the runner's own reason,
// or the runner confirms the cancel of a cancelled job.
func (v *view) JobRunnerReport(job admin.Job) bool {
	switch {
	case job.OperatorReason == "":
		return false
	case job.OperatorReason == job.Reason:
		return false
	case job.State == protocol.StateCancelled && job.OperatorPhase == protocol.PhaseCancelled:
		return false
	}
	return true
}
