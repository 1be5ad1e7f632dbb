package web_test

import (
	"testing"

	"github.com/ferryhq/ferry/protocol"
)

func TestChartHintOnlyWhileTransferRuns(t *testing.T) {
	e := newJobsEnv(t)
	const hint = `id="job-chart-pending"`

	transfer := e.run(protocol.JobTransfer)
	pod, epoch := e.start(transfer)
	sendProgress(t, pod, transfer.ID, epoch, 10, 100)
	mustContain(t, e.b.get("/jobs/"+transfer.ID).Body, hint)

	// An ended transfer gets no second report.
	e.report(transfer.ID, protocol.JobStatusRequest{Epoch: epoch, Phase: protocol.PhaseFailed, Reason: "EngineFailed"})
	mustNotContain(t, e.b.get("/jobs/"+transfer.ID).Body, hint)

	preview := e.run(protocol.JobPreview)
	pod, epoch = e.start(preview)
	sendProgress(t, pod, preview.ID, epoch, 10, 100)
	mustNotContain(t, e.b.get("/jobs/"+preview.ID).Body, hint)
}

func TestPreviewHasNoRateCards(t *testing.T) {
	e := newJobsEnv(t)
	preview := e.run(protocol.JobPreview)
	r := e.b.get("/jobs/" + preview.ID)
	mustContain(t, r.Body, `id="job-rows"`, `id="job-bytes"`, `id="job-duration"`)
	mustNotContain(t, r.Body, `id="job-rate-now"`, `id="job-rate-average"`)

	transfer := e.run(protocol.JobTransfer)
	mustContain(t, e.b.get("/jobs/"+transfer.ID).Body, `id="job-rate-now"`, `id="job-rate-average"`)
}
