// Command manager is the Ferry operator. It runs the TransferRunner
// reconciler with one control-plane poller per TransferRunner, and the
// TransferJob reconciler that runs each job as a pod.
//
// Run `manager --help` for the flags. Outside a cluster it uses the
// kubeconfig given by --kubeconfig or $KUBECONFIG.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	transferv1 "github.com/ferryhq/ferry/api/v1alpha1"
	"github.com/ferryhq/ferry/controllers"
	"github.com/ferryhq/ferry/controllers/runner"
)

// version is the operator version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

// leaderElectionID names the Lease that manager replicas compete for.
const leaderElectionID = "ferry-operator.transfer.ferry.dev"

// serviceAccountNamespaceFile holds the pod's namespace in a pod whose
// service account token is mounted; leader election uses it by default.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// The leader election Lease needs no cluster-wide rule: the Role in
// config/manager/leader_election_role.yaml grants it in the manager's
// namespace.

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		os.Exit(1)
	}
}

// flags are the manager's command-line settings.
type flags struct {
	metricsAddr             string
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	jobImage                string
	watchNamespaces         string
	showVersion             bool
	zap                     zap.Options
}

func parseFlags() flags {
	var f flags
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", "127.0.0.1:8080",
		`Address of the Prometheus metrics endpoint (plain HTTP), such as ":8080"; "0" disables it.`)
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", "127.0.0.1:8081",
		"Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false,
		"Elect a leader among manager replicas; only the leader polls the control plane and reconciles.")
	flag.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease. Default: the manager's own namespace when it runs in a pod; required outside a cluster.")
	flag.StringVar(&f.jobImage, "job-image", os.Getenv("FERRY_JOB_IMAGE"),
		"Image of job pods when a TransferRunner's spec.jobTemplate.image is empty. Default: $FERRY_JOB_IMAGE.")
	flag.StringVar(&f.watchNamespaces, "watch-namespaces", os.Getenv("WATCH_NAMESPACE"),
		"Comma-separated namespaces whose TransferRunners, TransferJobs, pods and Secrets the manager watches; "+
			"empty watches all namespaces and needs cluster-wide RBAC. Default: $WATCH_NAMESPACE.")
	flag.BoolVar(&f.showVersion, "version", false, "Print the version and exit.")
	f.zap = zap.Options{Development: false}
	f.zap.BindFlags(flag.CommandLine)
	flag.Parse()
	return f
}

func run() error {
	f := parseFlags()
	if f.showVersion {
		fmt.Println(version)
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(transferv1.AddToScheme(scheme))

	if f.leaderElect && f.leaderElectionNamespace == "" {
		if _, err := os.Stat(serviceAccountNamespaceFile); err != nil {
			return fmt.Errorf("--leader-elect outside a pod needs --leader-election-namespace, the namespace of the leader election Lease")
		}
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("failed to load the Kubernetes client configuration; set --kubeconfig or run in a pod: %w", err)
	}

	// NOTE: metrics are served over plain HTTP. They contain no secrets; in
	// a cluster, restrict who reaches the port with a NetworkPolicy.
	metricsOptions := metricsserver.Options{BindAddress: f.metricsAddr}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOptions,
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			DefaultNamespaces: namespaceConfigs(f.watchNamespaces),
			// Only job pods: the operator needs no other pod.
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Pod{}: {Label: controllers.JobPodSelector()},
			},
		},
		Client: client.Options{
			Cache: &client.CacheOptions{
				// Secrets are read directly, so no Secret data is cached; the
				// TransferRunner reconciler watches Secret metadata only.
				DisableFor: []client.Object{&corev1.Secret{}},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("failed to create the manager: %w", err)
	}

	pollers := runner.NewPollers(mgr.GetClient(), mgr.GetAPIReader(), clock.RealClock{},
		ctrl.Log.WithName("poller"), runner.Options{Version: version})
	if err := (&runner.TransferRunnerReconciler{Pollers: pollers}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("failed to set up the TransferRunner controller: %w", err)
	}
	if err := (&controllers.TransferJobReconciler{JobImage: f.jobImage}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("failed to set up the TransferJob controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("failed to add the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("pollers", pollers.ReadyCheck); err != nil {
		return fmt.Errorf("failed to add the readiness check: %w", err)
	}

	if f.jobImage == "" {
		log.Info("No default job image: set --job-image or FERRY_JOB_IMAGE, or spec.jobTemplate.image on every TransferRunner")
	}
	log.Info("Starting manager", "version", version, "leaderElection", f.leaderElect, "watchNamespaces", f.watchNamespaces,
		"metricsBindAddress", f.metricsAddr, "healthProbeBindAddress", f.probeAddr, "jobImage", f.jobImage)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("manager stopped: %w", err)
	}
	return nil
}

// namespaceConfigs turns a comma-separated namespace list into the cache's
// per-namespace settings; an empty list means every namespace.
func namespaceConfigs(list string) map[string]cache.Config {
	var namespaces map[string]cache.Config
	for _, ns := range strings.Split(list, ",") {
		if ns = strings.TrimSpace(ns); ns == "" {
			continue
		}
		if namespaces == nil {
			namespaces = map[string]cache.Config{}
		}
		namespaces[ns] = cache.Config{}
	}
	return namespaces
}
