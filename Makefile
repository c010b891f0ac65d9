# keyward: Kubernetes operator for API keys (kubebuilder go/v4 layout).
#
# `make help` lists the targets. Nothing here needs Docker except
# docker-build/docker-push, and nothing needs a kustomize binary:
# `kubectl kustomize` / `kubectl apply -k` render config/.

# Image the deploy target puts into the manager Deployment and, as the
# verifier's image, into its VERIFIER_IMAGE (config/manager uses the
# placeholder keyward:dev for both). `make run` deploys the verifier from it.
IMG ?= keyward:dev

# Kustomization that deploy/undeploy render: config/default (the webhook's
# certificate managed by keyward itself) or config/cert-manager (issued by
# cert-manager).
DEPLOY_CONFIG ?= config/default

# Kubernetes version of the envtest control plane (kube-apiserver, etcd,
# kubectl); hack/envtest-assets.sh fetches or builds it once per machine.
ENVTEST_K8S_VERSION ?= 1.37.2

# Extra arguments for go test (e.g. TEST_ARGS='-run TestFoo -v').
TEST_ARGS ?=
# Packages `make test` runs a second time, whole, under the race detector:
# the rate-limit stores, the token replay cache and the verifier, where
# goroutines and replicas share counters, and floods and outages meet
# concurrent requests (about 70 s of tests).
RACE_PKGS ?= ./internal/ratelimit/ ./internal/token/ ./verifier/
# What `make test` regenerates and, under CI, requires to be committed as
# generated: types, CRDs, RBAC and webhook configuration, the installers
# and the chart's copies of CRDs, RBAC and webhook configuration.
GENERATED ?= api config dist charts
# Packages `make test` runs once more under GODEBUG=fips140=only, where Go's
# Cryptographic Module refuses every algorithm and key size it does not
# approve: key hashing, token signing and validation, signing-key records,
# TLS serving and the Redis client, certificate bindings and bundles, the
# FIPS rules themselves, and the verifier, which uses them all on the
# request path (about 20 s; docs/fips.md).
FIPS_PKGS ?= ./internal/fipsmode/ ./internal/keys/ ./internal/token/ ./internal/signingrecord/ \
	./internal/servingtls/ ./internal/redisconn/ ./internal/certbind/ ./internal/pemcerts/ ./verifier/
# The Go Cryptographic Module `make build-fips` builds with (GOFIPS140):
# v1.0.0 is the frozen snapshot this Go release ships in
# $(go env GOROOT)/lib/fips140 and names "certified" (v1.0.0-c2097c7c);
# "latest" would build the module code of the Go tree, which no validation
# covers.
GOFIPS140_VERSION ?= v1.0.0
# Packages `make test` leaves out, named exactly (go list patterns), so that
# a new folder is tested unless it is listed here: test/bench runs under
# `make bench`, test/e2e (a real cluster) under `make e2e`.
TEST_PKGS_EXCLUDE ?= ./test/bench/... ./test/e2e/...

# Benchmarks (`make bench`): BENCH selects benchmarks (-bench regexp),
# BENCH_PKGS the unit-benchmark packages, BENCH_ARGS extra go test flags for
# them; BENCH_OPERATOR_PKG holds the envtest-based benchmarks (operator,
# revocation propagation, verifier under load: BENCH='Verifier|Revocation'
# runs the last two; the verifier over SCALE_RECORDS records and, in
# test/bench/scale, the manager over SCALE_APIKEYS APIKeys:
# BENCH=Scale), BENCH_OPERATOR_TIME their -benchtime and
# BENCH_OPERATOR_TIMEOUT their -timeout. The verifier benchmark reads
# VERIFIER_BENCH_DURATION, _ROUNDS, _WARMUP, _CONNECTIONS and _CPUPROFILE from
# the environment (test/bench/verifier_bench_test.go).
BENCH ?= .
BENCH_PKGS ?= ./internal/... ./verifier/
BENCH_ARGS ?= -benchmem
BENCH_OPERATOR_PKG ?= ./test/bench/ ./test/bench/scale/
BENCH_OPERATOR_TIME ?= 1x
BENCH_OPERATOR_TIMEOUT ?= 30m

# Extra arguments for the manager in `make run` and for hack/run-local.
RUN_ARGS ?=
RUN_LOCAL_ARGS ?=

# Container tool for docker-build/docker-push.
CONTAINER_TOOL ?= docker
# GOFIPS140 of the image's binary: "off", or a module version
# (GOFIPS140_VERSION) for an image in FIPS 140-3 mode.
DOCKER_GOFIPS140 ?= off

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'.
.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole (config/rbac/role.yaml), CRDs (config/crd/bases) and webhook configs, and their copies in charts/keyward.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	@# charts/keyward installs the same CRDs, manager roles and webhook
	@# rules: copies of the generated files, never edited (test/install
	@# compares them byte for byte).
	rm -f charts/keyward/crds/*.yaml
	cp config/crd/bases/*.yaml charts/keyward/crds/
	cp config/rbac/role.yaml charts/keyward/files/role.yaml
	cp config/webhook/manifests.yaml charts/keyward/files/webhook.yaml

.PHONY: generate
generate: controller-gen ## Generate DeepCopy, DeepCopyInto and DeepCopyObject methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: argocd-cm
argocd-cm: ## Generate argocd/argocd-cm-patch.yaml (Argo CD health checks) from argocd/resource_customizations.
	go run ./hack/gen-argocd-cm

.PHONY: gitleaks-config
gitleaks-config: ## Generate scanning/gitleaks.toml (the gitleaks rule for keyward's keys) from internal/keys.
	go run ./hack/gen-gitleaks

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml: go vet, gofmt and the linters it names), changing nothing.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: setup-envtest ## Ensure the envtest binaries (kube-apiserver, etcd, kubectl) and print their directory.
	@$(ENVTEST_ASSETS)

.PHONY: test-deps
test-deps: ## Install what tests run for real (nginx, redis-server) from Debian's packages when missing.
	@bash hack/test-deps.sh

.PHONY: test
test: manifests generate build-installer fmt vet lint setup-envtest test-deps caddy helm gitleaks build-fips ## Run golangci-lint, unit and envtest tests (everything but test/e2e and test/bench), then RACE_PKGS under the race detector, FIPS_PKGS under GODEBUG=fips140=only and a TEST_SOAK_DURATION soak.
	@assets="$$($(ENVTEST_ASSETS))"; \
	pkgs="$$(go list ./... | { grep -vxF -f <(go list $(TEST_PKGS_EXCLUDE)) || true; })"; \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" KEYWARD_CADDY="$(CADDY)" KEYWARD_HELM="$(HELM)" KEYWARD_GITLEAKS="$(GITLEAKS)" KEYWARD_FIPS_BINARY="$(LOCALBIN)/keyward-fips" go test $$pkgs -count=1 -timeout 20m $(TEST_ARGS)
	@# The packages whose goroutines and replicas share state, again
	@# under the race detector.
	KUBEBUILDER_ASSETS="$$($(ENVTEST_ASSETS))" KEYWARD_CADDY="$(CADDY)" go test -race -count=1 -timeout 10m $(RACE_PKGS)
	@# The crypto-using packages, again with the FIPS 140-3 module
	@# refusing whatever it does not approve.
	GODEBUG=fips140=only KEYWARD_CADDY="$(CADDY)" go test -count=1 -timeout 5m $(FIPS_PKGS)
	@# A short soak, alone on the machine: every answer checked while keys
	@# change and a replica is replaced (`make soak` runs the long one).
	KUBEBUILDER_ASSETS="$$($(ENVTEST_ASSETS))" SOAK_DURATION=$(TEST_SOAK_DURATION) go test ./test/soak/ -run '^TestSoak$$' -count=1 -timeout 5m
	@if [ "$${CI:-}" = "true" ]; then \
		changed="$$(git status --porcelain -- $(GENERATED))"; \
		if [ -n "$$changed" ]; then \
			echo "$$changed"; git --no-pager diff --stat -- $(GENERATED) || true; \
			echo "generated files are out of date: run make manifests generate build-installer and commit"; \
			exit 1; \
		fi; \
	fi

# The real-cluster suite: hack/e2e brings up a one-node cluster without
# Docker (needs root; changes it makes to the host are undone by
# e2e-down, which e2e runs also when it fails), builds the images with
# image-tar, deploys config/e2e and runs test/e2e with the real kubectl.
# E2E_KEEP=1 keeps the cluster up afterwards; E2E_TEST_ARGS passes go test
# flags (e.g. E2E_TEST_ARGS='-run Revocation').
E2E_DIR ?= $(shell pwd)/tmp/e2e
E2E_IMAGES ?= $(LOCALBIN)/images

.PHONY: e2e
e2e: manifests ## Run test/e2e on a throw-away one-node cluster (root; about 2 GB of disk). E2E_KEEP=1 keeps it up.
	E2E_DIR="$(E2E_DIR)" E2E_IMAGES="$(E2E_IMAGES)" IMG="$(IMG)" bash hack/e2e/run.sh

.PHONY: e2e-down
e2e-down: ## Stop the e2e cluster (after E2E_KEEP=1 or a crash) and undo its changes to the host.
	bash hack/e2e/cluster.sh down "$(E2E_DIR)"

.PHONY: bench-deps
bench-deps: ## Install wrk, the load generator the verifier benchmark measures with beside its own, from Debian's packages when missing.
	@bash hack/test-deps.sh wrk

.PHONY: bench
bench: setup-envtest bench-deps ## Run unit benchmarks (BENCH_PKGS) and the envtest benchmarks (BENCH_OPERATOR_PKG): operator, revocation, verifier load (by the Go load generator and by wrk), usage analytics, scale (SCALE_RECORDS, SCALE_APIKEYS).
	go test $(BENCH_PKGS) -run '^$$' -bench '$(BENCH)' $(BENCH_ARGS)
	@assets="$$($(ENVTEST_ASSETS))"; \
	set -x; \
	KUBEBUILDER_ASSETS="$$assets" go test $(BENCH_OPERATOR_PKG) -run '^$$' -bench '$(BENCH)' \
		-benchtime=$(BENCH_OPERATOR_TIME) -timeout $(BENCH_OPERATOR_TIMEOUT) -v

# Soak (`make soak`): the manager and two verifier replicas on envtest, at
# half of the verifier's measured peak (SOAK_RATE overrides it) for
# SOAK_DURATION, while keys are rotated, suspended, resumed and revoked and
# a replica is replaced; every answer is checked. `make test` runs only the
# package's unit tests with the rest of the suite (without SOAK_DURATION the
# soak skips: beside every other package it would measure a machine they
# share), then a short soak of TEST_SOAK_DURATION as a step of its own,
# after the race and FIPS steps, when it has the machine to itself.
SOAK_DURATION ?= 10m
TEST_SOAK_DURATION ?= 20s
# SOAK_TIMEOUT covers SOAK_DURATION, envtest's start and the peak's
# measurement: raise it with a longer SOAK_DURATION.
SOAK_TIMEOUT ?= 20m

.PHONY: soak
soak: setup-envtest ## Run the soak test (test/soak) for SOAK_DURATION (default 10m) at half of the verifier's peak, or SOAK_RATE requests per second.
	@assets="$$($(ENVTEST_ASSETS))"; \
	set -x; \
	KUBEBUILDER_ASSETS="$$assets" SOAK_DURATION=$(SOAK_DURATION) go test ./test/soak/ -run '^TestSoak$$' -count=1 -v -timeout $(SOAK_TIMEOUT)

# Fuzzing (`make fuzz`): every fuzz target of the module, one after the
# other, FUZZTIME each with FUZZ_PARALLEL workers; FUZZ_TARGETS, a regexp on
# <package>.<Target>, narrows it (hack/fuzz.sh). The default gives each
# target about 10 CPU-minutes per core.
#
# `make test` runs every target's seeds (f.Add and testdata/fuzz, where
# crashers land), not a short fuzz: -fuzz builds every package a target
# imports anew with coverage instrumentation (client-go's included for
# ./verifier/), which alone takes minutes on a fresh CI machine, well past
# what a few seconds of fuzzing per target would be worth.
FUZZTIME ?= 10m
FUZZ_PARALLEL ?= $(shell nproc)
FUZZ_TARGETS ?= .

.PHONY: fuzz
fuzz: ## Fuzz every fuzz target for FUZZTIME each (FUZZTIME=10s make fuzz: a smoke run); crashers land in the package's testdata/fuzz.
	FUZZTIME="$(FUZZTIME)" FUZZ_PARALLEL="$(FUZZ_PARALLEL)" FUZZ_TARGETS='$(value FUZZ_TARGETS)' bash hack/fuzz.sh

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the keyward binary into bin/keyward and the kubectl plugin into bin/kubectl-keyward.
	go build -o bin/keyward ./cmd/keyward
	go build -o bin/kubectl-keyward ./cmd/kubectl-keyward

# FIPS 140-3 mode is on by default in this binary (GOFIPS140 bakes
# GODEBUG=fips140=on into it); GODEBUG=fips140=only also makes the module
# refuse, at run time, every algorithm it does not approve.
.PHONY: build-fips
# PLUGIN_VERSION is the kubectl plugin release `make plugin-release` builds
# (a semantic version: krew requires one); PLUGIN_PLATFORMS its targets.
PLUGIN_VERSION ?= v0.0.0-dev
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

.PHONY: plugin-release
plugin-release: ## Build the kubectl plugin's release archives (dist/plugin/, one tar.gz per PLUGIN_PLATFORMS) and generate their krew manifest dist/krew/keyward.yaml.
	@rm -rf dist/plugin && mkdir -p dist/plugin
	@for platform in $(PLUGIN_PLATFORMS); do \
		os="$${platform%/*}"; arch="$${platform#*/}"; bin=kubectl-keyward; \
		if [ "$$os" = windows ]; then bin=kubectl-keyward.exe; fi; \
		stage="$$(mktemp -d)"; \
		CGO_ENABLED=0 GOOS="$$os" GOARCH="$$arch" go build -trimpath -ldflags "-s -w" -o "$$stage/$$bin" ./cmd/kubectl-keyward || exit 1; \
		files="$$bin"; if [ -f LICENSE ]; then cp LICENSE "$$stage/" && files="$$bin LICENSE"; fi; \
		tar -C "$$stage" --owner=0 --group=0 --numeric-owner -czf "dist/plugin/kubectl-keyward_$(PLUGIN_VERSION)_$${os}_$${arch}.tar.gz" $$files || exit 1; \
		rm -rf "$$stage"; echo "built dist/plugin/kubectl-keyward_$(PLUGIN_VERSION)_$${os}_$${arch}.tar.gz"; \
	done
	go run ./hack/gen-krew-manifest -version $(PLUGIN_VERSION) -archives dist/plugin -out dist/krew/keyward.yaml

build-fips: ## Build bin/keyward-fips with the Go Cryptographic Module GOFIPS140_VERSION, in FIPS 140-3 mode (docs/fips.md).
	GOFIPS140=$(GOFIPS140_VERSION) go build -o bin/keyward-fips ./cmd/keyward

# A manager outside the cluster cannot be reached by the API server, so it
# serves no admission webhooks.
.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig (install the CRDs first).
	go run ./cmd/keyward manager --metrics-bind-address=0 --health-probe-bind-address=:8081 --enable-webhooks=false --verifier-image=$(IMG) $(RUN_ARGS)

.PHONY: run-local
run-local: build manifests ## A local control plane, the CRDs, the manager and the samples; Ctrl-C stops it all.
	go build -o bin/run-local ./hack/run-local
	bin/run-local $(RUN_LOCAL_ARGS)

# If you wish to build the image targeting other platforms you can use the
# --platform flag (requires docker buildx), e.g.
# make docker-build IMG=example/keyward:v0.1.0 CONTAINER_TOOL="docker buildx" ...
.PHONY: docker-build
docker-build: ## Build the container image IMG (needs a container engine); DOCKER_GOFIPS140=v1.0.0 builds it in FIPS 140-3 mode.
	$(CONTAINER_TOOL) build --build-arg GOFIPS140=$(DOCKER_GOFIPS140) -t $(IMG) .

.PHONY: image-tar
image-tar: ## Build the image IMG without a container engine, as an OCI tarball in bin/images (with the e2e cluster's pause image).
	IMG="$(IMG)" bash hack/e2e/images.sh "$(E2E_IMAGES)"

.PHONY: docker-push
docker-push: ## Push the container image IMG.
	$(CONTAINER_TOOL) push $(IMG)

# The one-file installers: config/default (the webhook's certificate managed
# by keyward) and config/cert-manager, rendered by envtest's kubectl (the
# version ENVTEST_K8S_VERSION pins, so the output does not depend on the
# kubectl of the machine) with IMG as the manager's and verifier's image.
# Committed; `make test` under CI fails when they are not what this writes.
.PHONY: build-installer
build-installer: manifests setup-envtest ## Write dist/install.yaml and dist/install-cert-manager.yaml (image IMG).
	@mkdir -p dist
	@kubectl="$$($(ENVTEST_ASSETS))/kubectl"; \
	for variant in default:install cert-manager:install-cert-manager; do \
		config="$${variant%%:*}"; out="dist/$${variant##*:}.yaml"; \
		{ echo "# keyward: generated from config/$$config by make build-installer; do not edit."; \
		  "$$kubectl" kustomize "config/$$config" | $(SET_IMAGE); } >"$$out.tmp"; \
		mv "$$out.tmp" "$$out"; echo "wrote $$out"; \
	done

##@ Deployment

# Puts IMG where config/manager has the placeholder keyward:dev: the
# manager's image and, as its VERIFIER_IMAGE, the verifier's.
SET_IMAGE = sed -e "s|image: keyward:dev|image: $(IMG)|" -e "s|value: keyward:dev|value: $(IMG)|"

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Uninstall the CRDs. Call with ignore-not-found=true to ignore missing resources.
	kubectl delete --ignore-not-found=$(ignore-not-found) -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the controller (CRDs, RBAC, manager with image IMG, webhook; DEPLOY_CONFIG=config/cert-manager for cert-manager) to the current kubeconfig's cluster.
	kubectl kustomize $(DEPLOY_CONFIG) | $(SET_IMAGE) | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Undeploy the controller. Call with ignore-not-found=true to ignore missing resources.
	kubectl kustomize $(DEPLOY_CONFIG) | kubectl delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool versions
CONTROLLER_TOOLS_VERSION ?= v0.23.0
ENVTEST_VERSION ?= v0.25.1
GOLANGCI_LINT_VERSION ?= v2.15.0
CADDY_VERSION ?= v2.11.9
HELM_VERSION ?= v4.3.2
GITLEAKS_VERSION ?= v8.30.1

## Tool binaries (versioned file names: a version bump installs anew)
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
SETUP_ENVTEST ?= $(LOCALBIN)/setup-envtest-$(ENVTEST_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
CADDY ?= $(LOCALBIN)/caddy-$(CADDY_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
GITLEAKS ?= $(LOCALBIN)/gitleaks-$(GITLEAKS_VERSION)

## Prints the envtest assets directory (for KUBEBUILDER_ASSETS) on stdout.
ENVTEST_ASSETS = SETUP_ENVTEST="$(SETUP_ENVTEST)" ENVTEST_K8S_VERSION="$(ENVTEST_K8S_VERSION)" bash hack/envtest-assets.sh

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/ if missing.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: setup-envtest
setup-envtest: $(SETUP_ENVTEST) ## Install setup-envtest into bin/ if missing.
$(SETUP_ENVTEST): | $(LOCALBIN)
	$(call go-install-tool,$(SETUP_ENVTEST),sigs.k8s.io/controller-runtime/tools/setup-envtest,$(ENVTEST_VERSION))

# Built from its Go module (never a downloaded release binary): the first
# build takes a few minutes, later runs reuse bin/.
.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/ if missing.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# Caddy runs for real in the verifier's forward_auth test (KEYWARD_CADDY
# tells the test where it is). Built from its Go module like golangci-lint:
# the first build takes several minutes, later runs reuse bin/.
.PHONY: caddy
caddy: $(CADDY) ## Build Caddy into bin/ if missing (for the forward_auth test).
$(CADDY): | $(LOCALBIN)
	$(call go-install-tool,$(CADDY),github.com/caddyserver/caddy/v2/cmd/caddy,$(CADDY_VERSION))

# Helm renders and lints charts/keyward in test/install (KEYWARD_HELM tells
# the test where it is). Built from its Go module like Caddy.
.PHONY: helm
helm: $(HELM) ## Build Helm into bin/ if missing (for the chart's tests).
$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

# gitleaks scans files with scanning/gitleaks.toml in the rule's test
# (KEYWARD_GITLEAKS tells the test where it is). Built from its Go module
# like Caddy.
.PHONY: gitleaks
gitleaks: $(GITLEAKS) ## Build gitleaks into bin/ if missing (for the secret-scanning rule's test).
$(GITLEAKS): | $(LOCALBIN)
	$(call go-install-tool,$(GITLEAKS),github.com/zricethezav/gitleaks/v8,$(GITLEAKS_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary (versioned)
# $2 - package url which can be installed
# $3 - specific version of package
# It installs into a scratch GOBIN inside $(LOCALBIN) and renames the result,
# so an unversioned binary of the same name in bin/ is left alone. The
# binary is named as go install names it: after the package path's last
# element, or the one before it when that is a major version (/v8).
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
tmpbin="$(LOCALBIN)/.install-$$$$" ;\
name="$$(basename $(2))" ;\
if expr "$$name" : 'v[0-9][0-9]*$$' >/dev/null; then name="$$(basename $$(dirname $(2)))"; fi ;\
echo "Installing $${package}" ;\
rm -rf "$$tmpbin" ;\
GOBIN="$$tmpbin" go install $${package} ;\
mv "$$tmpbin/$$name" "$(1)" ;\
rm -rf "$$tmpbin" ;\
}
endef
