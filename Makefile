# Ferry: a self-hosted transfer runner shipped as a Kubernetes operator.
# `make help` lists the targets.

## Tool and dependency versions. Tools build from the Go module proxy into ./bin.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION ?= v0.8.2
# The Kubernetes release (v1.37.2) is pinned in hack/kube/go.mod, and etcd in hack/etcd/go.mod;
# hack/kube/gen-gomod.sh VERSION moves Kubernetes to another release.
# Tag of the image that make image builds.
IMG ?= ferry:dev

## Locations.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
STATICCHECK ?= $(LOCALBIN)/staticcheck-$(STATICCHECK_VERSION)
# helm built by hack/helm/build.sh from the helm.sh/helm/v4 version in hack/helm/go.mod.
HELM ?= $(LOCALBIN)/helm
# kubectl built by hack/kube-binaries.sh (make kube-binaries).
KUBECTL ?= $(shell hack/kube-binaries.sh dir)/kubectl
# Build tag of the end-to-end tests, which start the local cluster (hack/cluster-up.sh), and
# the packages that hold them; make test leaves these tests out because it sets no tag.
E2E_TAGS ?= cluster
E2E_PACKAGES ?= ./test/cluster/... ./test/e2e/...
# go test flags shared by the test targets; override to add -v or -run.
GO_TEST_FLAGS ?= -race -count=1
E2E_TIMEOUT ?= 30m

# Recipes run in bash with errexit and pipefail, like the scripts under hack/.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and webhook manifests into config/.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods for the API types.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt -w on the project's Go files.
	gofmt -w $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet, end-to-end tests included.
	go vet -tags "$(E2E_TAGS)" ./...

.PHONY: lint
lint: vet staticcheck ## Run go vet, the gofmt check and staticcheck.
	@unformatted="$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'))"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed (run make fmt) on:"; echo "$$unformatted"; exit 1; fi
	"$(STATICCHECK)" -tags "$(E2E_TAGS)" ./...

.PHONY: verify
verify: manifests generate fmt ## Regenerate code and manifests, format, and fail on any diff.
	@git diff --exit-code -- . || { echo "make verify: generated or formatted files are out of date; commit the diff above"; exit 1; }
	@untracked="$$(git ls-files --others --exclude-standard -- api config)"; \
	if [[ -n "$$untracked" ]]; then echo "make verify: generated files not committed:"; echo "$$untracked"; exit 1; fi

.PHONY: run
run: manifests generate ## Run the manager on this host against the current kubeconfig.
	go run ./cmd/manager

# Sample databases of make demo: sqlite (two SQLite files) or mariadb (two MariaDB servers).
DB ?= sqlite

.PHONY: demo
demo: ## Run the whole system locally and move one table through it (DB=sqlite or DB=mariadb; needs root).
	DB="$(DB)" hack/demo.sh

.PHONY: demo-down
demo-down: ## Stop everything make demo started and remove .demo and the local cluster.
	hack/demo.sh --down

##@ Build

.PHONY: build
build: ## Build the static binaries of ./cmd/... into ./bin.
	@mkdir -p "$(LOCALBIN)"
	CGO_ENABLED=0 go build -trimpath -o "$(LOCALBIN)/" ./cmd/...

.PHONY: image
image: build ## Build the OCI image tarball bin/ferry-image.tar from the binaries in ./bin.
	go run ./hack/image -o "$(LOCALBIN)/ferry-image.tar" -tag "$(IMG)" \
		$$(for b in manager transfer controlplane; do [[ -x "$(LOCALBIN)/$$b" ]] && echo "-bin $(LOCALBIN)/$$b"; done)

.PHONY: kube-binaries
kube-binaries: ## Build the six Kubernetes binaries (etcd, apiserver, controller-manager, scheduler, kubelet, kubectl) from Go modules.
	hack/kube-binaries.sh

.PHONY: envtest
envtest: ## Build or locate kube-apiserver, etcd and kubectl for envtest and print KUBEBUILDER_ASSETS.
	hack/envtest.sh

##@ Test

.PHONY: test
test: manifests generate envtest ## Run unit and envtest tests with the race detector.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test $(GO_TEST_FLAGS) -coverprofile cover.out ./...

.PHONY: test-e2e
# -p 1: test/cluster and test/e2e each start and stop the one local cluster, so their
# packages must not run at the same time.
test-e2e: kube-binaries ## Run the end-to-end tests, which start and stop the local cluster.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test $(GO_TEST_FLAGS) -p 1 -tags "$(E2E_TAGS)" -timeout $(E2E_TIMEOUT) -v $(E2E_PACKAGES)

.PHONY: test-all
test-all: test test-e2e ## Run every test: make test, then make test-e2e.

.PHONY: test-chart
test-chart: manifests helm envtest ## Lint and render the Helm chart with several value sets and check the objects.
	HELM="$(HELM)" KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test $(GO_TEST_FLAGS) ./test/chart/...

# The chart tests in ./test/chart run helm; build it first rather than inside go test.
test test-e2e: helm

##@ Benchmarks

.PHONY: bench
bench: bench-transfer bench-controlplane bench-operator ## Run all benchmarks.

# Row counts of make bench-transfer, comma separated; ROWS=100000,1000000 for the full measurement.
ROWS ?= 100000

.PHONY: bench-transfer
bench-transfer: ## Time Ferry against mysqldump|mysql and psql COPY pipes on local servers (ROWS=...).
	go run ./transfer/bench -rows $(ROWS)

.PHONY: bench-controlplane
bench-controlplane: ## Run the control plane benchmark (100 long-polling runners) and append its figures to docs/benchmarks.md.
	FERRY_BENCH_REPORT="$(CURDIR)/docs/benchmarks.md" go test -run '^$$' -bench . -benchtime 1x ./controlplane/...

.PHONY: bench-operator
bench-operator: envtest ## Run the operator benchmarks: a burst of 1,000 assignments, the manager as a child process.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./controllers/...

##@ Deployment

.PHONY: install
install: manifests kube-binaries ## Install the CRDs into the cluster of the current kubeconfig.
	"$(KUBECTL)" apply -f config/crd/bases

.PHONY: uninstall
uninstall: manifests kube-binaries ## Remove the CRDs from the cluster of the current kubeconfig.
	"$(KUBECTL)" delete --ignore-not-found -f config/crd/bases

##@ Cluster

.PHONY: cluster-up
cluster-up: kube-binaries ## Start the local single-node cluster; kubeconfig at .cluster/kubeconfig.
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove its state.
	hack/cluster-down.sh

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into ./bin.
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: staticcheck
staticcheck: $(STATICCHECK) ## Build staticcheck into ./bin.
$(STATICCHECK):
	$(call go-install-tool,$(STATICCHECK),honnef.co/go/tools/cmd/staticcheck,$(STATICCHECK_VERSION))

.PHONY: helm
helm: $(HELM) ## Build helm from helm.sh/helm/v4 into ./bin (hack/helm is a module of its own).
$(HELM):
	HELM="$(HELM)" hack/helm/build.sh

# go-install-tool builds package $(2) at version $(3) into $(1), a file name that carries the
# version, and links the plain name to it, so a version bump rebuilds the tool.
define go-install-tool
@mkdir -p "$(LOCALBIN)"
@echo "Building $(2)@$(3) into $(1)"
GOBIN="$(LOCALBIN)" go install "$(2)@$(3)"
mv "$(LOCALBIN)/$$(basename "$(2)")" "$(1)"
ln -sf "$$(basename "$(1)")" "$(LOCALBIN)/$$(basename "$(2)")"
endef
