// Package metrics defines the operator's Prometheus metrics. Every collector
// is registered with controller-runtime's registry, so the manager serves
// them on its metrics endpoint (--metrics-bind-address) with the
// controller-runtime and Go runtime metrics.
//
// Metric names start with ferry_operator_. The runner label holds the
// TransferRunner as "namespace/name".
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// AssignedAtAnnotation is the TransferJob annotation that stores when the
// operator received the job's assignment from the control plane, in RFC 3339
// with nanoseconds. With the TransferJob's creation and its pod's creation
// time it shows where a slow pickup spent its time.
const AssignedAtAnnotation = "transfer.ferry.dev/assigned-at"

var (
	// Jobs is the number of TransferJobs of each runner by phase, as the
	// runner's poller counted them before its latest heartbeat. Jobs without
	// a phase yet count as Pending.
	Jobs = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ferry_operator_jobs",
		Help: "TransferJobs of each runner by phase, counted before each heartbeat.",
	}, []string{"runner", "phase"})

	// AssignmentsReceived counts job assignments received in heartbeat
	// responses, duplicates included.
	AssignmentsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_operator_assignments_received_total",
		Help: "Job assignments received from the control plane, duplicates included.",
	}, []string{"runner"})

	// PickupLatency is the time from receiving an assignment to its
	// TransferJob being created, in seconds.
	PickupLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ferry_operator_assignment_pickup_seconds",
		Help:    "Time from receiving a job assignment to creating its TransferJob, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})

	// HeartbeatErrors counts failed join and heartbeat calls by cause:
	// unauthorized (401), forbidden (403), not_found (404), server (other
	// HTTP errors), network (no HTTP response) or kubernetes (the poller
	// could not read or write Kubernetes objects).
	HeartbeatErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_operator_heartbeat_errors_total",
		Help: "Failed join and heartbeat calls of each runner, by cause.",
	}, []string{"runner", "cause"})

	// HeartbeatDuration is the duration of successful heartbeat calls, the
	// long-poll wait included, in seconds.
	HeartbeatDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ferry_operator_heartbeat_duration_seconds",
		Help:    "Duration of successful heartbeat calls, long-poll wait included, in seconds.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90},
	}, []string{"runner"})

	// PollerRestarts counts poller restarts after a panic, by runner.
	PollerRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_operator_poller_panics_total",
		Help: "Pollers restarted after a panic, by runner.",
	}, []string{"runner"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(
		Jobs,
		AssignmentsReceived,
		PickupLatency,
		HeartbeatErrors,
		HeartbeatDuration,
		PollerRestarts,
	)
}

// DeleteRunner removes the per-runner series of a runner whose poller
// stopped for good, so a deleted TransferRunner leaves no stale gauges.
func DeleteRunner(runner string) {
	labels := prometheus.Labels{"runner": runner}
	Jobs.DeletePartialMatch(labels)
	AssignmentsReceived.DeletePartialMatch(labels)
	HeartbeatErrors.DeletePartialMatch(labels)
	HeartbeatDuration.DeletePartialMatch(labels)
	PollerRestarts.DeletePartialMatch(labels)
}
