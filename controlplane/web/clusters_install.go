package web

import (
	"net/url"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ferryhq/ferry/controlplane/admin"
)

// Names the install commands use. They match docs/install-eks.md and the
// defaults of charts/ferry/values.yaml.
const (
	installNamespace = "ferry-system"
	installRelease   = "ferry"
	installChart     = "charts/ferry"
	// tokenSecretName is the Secret the chart's runner.token.existingSecret
	// names.
	tokenSecretName = "ferry-runner-token"
	// tokenSecretKey is the chart's default runner.token.existingSecretKey.
	tokenSecretKey = "token"
)

// tokenData is the page that shows a new registration token, the only time
// it is shown.
type tokenData struct {
	*view
	Cluster admin.Cluster
	Token   admin.Token
	// RunnerName is the TransferRunner name the Helm command sets, or empty
	// when the cluster name does not make a Kubernetes name.
	RunnerName     string
	ControlPlane   string
	Namespace      string
	SecretName     string
	KubectlCommand string
	HelmCommand    string
	// LoopbackURL is set when ControlPlane names a loopback address or
	// localhost, which pods in a cluster usually cannot reach.
	LoopbackURL bool
}

func newTokenData(v *view, c admin.Cluster, tok admin.Token, controlPlaneURL string) tokenData {
	runnerName := runnerNameFor(c.Name)
	// Every command works for a first install and for a rotation alike:
	// kubectl apply creates or updates, helm upgrade --install installs or
	// upgrades.
	const apply = " --dry-run=client -o yaml | kubectl apply -f -"
	kubectl := "kubectl create namespace " + installNamespace + apply + "\n" +
		"kubectl -n " + installNamespace + " create secret generic " + tokenSecretName +
		" " + shellQuote("--from-literal="+tokenSecretKey+"="+tok.Token) + " \\\n  " + strings.TrimPrefix(apply, " ")
	helm := []string{
		"helm upgrade --install " + installRelease + " " + installChart + " -n " + installNamespace + " --create-namespace",
		"--set runner.enabled=true",
	}
	if runnerName != "" {
		helm = append(helm, "--set runner.name="+runnerName)
	}
	helm = append(helm,
		"--set "+shellQuote("runner.controlPlaneURL="+helmValue(controlPlaneURL)),
		"--set runner.token.existingSecret="+tokenSecretName,
	)
	return tokenData{
		view: v, Cluster: c, Token: tok, RunnerName: runnerName, ControlPlane: controlPlaneURL,
		Namespace: installNamespace, SecretName: tokenSecretName,
		KubectlCommand: kubectl, HelmCommand: strings.Join(helm, " \\\n  "),
		LoopbackURL: urlIsLoopback(controlPlaneURL),
	}
}

// urlIsLoopback reports whether the host of rawURL is a loopback address
// or localhost.
func urlIsLoopback(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && isLoopbackHost(u.Hostname())
}

// runnerNameFor turns a cluster name into a TransferRunner name: lower case,
// with characters other than letters, digits and '-' replaced by '-'. It
// returns "" when no valid DNS-1123 label results, and the chart's default
// name applies.
func runnerNameFor(cluster string) string {
	name := strings.Trim(nonLabelChars.ReplaceAllString(strings.ToLower(cluster), "-"), "-")
	if name == "" || len(validation.IsDNS1123Label(name)) > 0 {
		return ""
	}
	return name
}

var nonLabelChars = regexp.MustCompile(`[^a-z0-9-]`)

// shellSafe matches words that a POSIX shell passes on unchanged.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellQuote quotes s for a POSIX shell when it has other characters than
// shellSafe allows.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// helmValue escapes the characters that helm --set treats as separators in
// a value: ',' between assignments and '\' itself.
func helmValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(s)
}
