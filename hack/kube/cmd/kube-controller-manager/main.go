// Command kube-controller-manager runs the upstream kube-controller-manager from k8s.io/kubernetes, built from the Go
// module proxy so that tests and the local cluster need no release download.
package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones resolve without the host's zoneinfo.

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
