package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the TransferJob reconciler, served on the manager's metrics
// endpoint.
var (
	jobsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_transferjobs_finished_total",
		Help: "TransferJobs that reached a terminal phase, by phase and reason.",
	}, []string{"phase", "reason"})

	pickupSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ferry_transferjob_pickup_seconds",
		Help:    "Time from TransferJob creation, when the runner accepts an assignment, to the creation of its pod, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})

	reportFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_transferjob_report_failures_total",
		Help: "Failed attempts to report a terminal job state to the control plane; each is retried.",
	})
)

func init() {
	metrics.Registry.MustRegister(jobsFinished, pickupSeconds, reportFailures)
}
