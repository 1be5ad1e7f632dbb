package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers/metrics"
)

// Metrics of the TransferJob reconciler, served on the manager's metrics
// endpoint next to those of package metrics.
var (
	jobsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_operator_jobs_finished_total",
		Help: "TransferJobs that reached a terminal phase, by phase and reason.",
	}, []string{"phase", "reason"})

	podPickupSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ferry_operator_pod_pickup_seconds",
		Help:    "Time from receiving a job assignment (or, without that record, creating its TransferJob) to creating its pod, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})

	reportFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_operator_report_failures_total",
		Help: "Failed attempts to report a terminal job state to the control plane; each is retried.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(jobsFinished, podPickupSeconds, reportFailures)
}

// observePickup records the time from tj's assignment to its pod's creation
// at podCreated. The assignment time comes from the poller's annotation,
// else from the TransferJob's creation.
func observePickup(tj *transferv1.TransferJob, podCreated time.Time) {
	assigned := tj.CreationTimestamp.Time
	if value, ok := tj.Annotations[metrics.AssignedAtAnnotation]; ok {
		if parsed, err := time.Parse(time.RFC3339Nano, value); err == nil {
			assigned = parsed
		}
	}
	podPickupSeconds.Observe(podCreated.Sub(assigned).Seconds())
}
