# nodeguard — see README.md. The two commands a newcomer needs: make run, make test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/nodeguard/nodeguard/agent/release.Version=$(VERSION)
BIN     := bin/nodeguard
AGENT   := bin/nodeguard-agent
export CGO_ENABLED := 0

.PHONY: all build run test deps vet unit bpf-check kube-binaries e2e go-binaries kubeadm-tree admission-tables reference reference-fresh kubelet-tables kubelet-types release-table kernels bench image sbom clean helm-binary openreports-crds

all: build

# Two executables, installed side by side: nodeguard (the one-shot commands,
# without the agent's dependencies, so that they start fast) executes
# nodeguard-agent for run, watch and report (README, "How it is built").
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/nodeguard ./cmd/nodeguard-agent

# Audit this host and print the table. Findings are what an audit is for, so
# exit 1 (failing findings) still counts as success here; 2 (cannot run) does not.
run: build
	@./$(BIN) scan --host-root / --log-level warn; status=$$?; [ $$status -le 1 ]

deps:
	./.ci/deps

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -skip '^TestKernelMatrix$$' ./...

# The committed BPF objects must be exactly what bpf/c compiles to.
bpf-check:
	./bpf/regenerate.sh

# etcd, kube-apiserver, and for the e2e kubelet, kube-controller-manager,
# kube-scheduler and kubectl, built from the Go module proxy once and cached
# under ~/.cache/nodeguard (the first build is long).
kube-binaries:
	./integration/kubeenv/build.sh node >/dev/null

# The DaemonSet on a real kubelet: the manifests applied to a single-node
# cluster built on this machine (integration/clusterbox). Run as root.
e2e: kube-binaries
	NODEGUARD_E2E=1 $(GO) test -count=1 -v -timeout 20m -run '^TestClusterBox$$' ./integration/clusterbox

# The stock kubeadm node trees of probes/controlplane/testdata, rewritten by
# kubeadm built from the module proxy (cached like kube-binaries). Run as root.
kubeadm-tree:
	./integration/kubeadm/tree.sh

# The kube-apiserver's default admission plugins per minor, regenerated from
# each release's source in the module cache.
admission-tables:
	cd probes/controlplane && $(GO) generate ./...

# runc before and after CVE-2024-21626's fix, and govulncheck, built from the
# Go module proxy once and cached under ~/.cache/nodeguard: the binaries
# probe is checked against govulncheck on them (integration/gobinaries).
go-binaries:
	./integration/gobinaries/build.sh >/dev/null

# helm, built from the Go module proxy once and cached under
# ~/.cache/nodeguard (integration/helmbin): manifests/helm_test.go lints and
# renders the chart in manifests/helm/nodeguard with it, integration/deploy
# installs it; under CI=true a missing helm fails them. The first build takes
# about 2 minutes.
HELM_VERSION := v4.3.2
HELM_DIR     := $(HOME)/.cache/nodeguard/helm-$(HELM_VERSION)
helm-binary:
	@[ -x $(HELM_DIR)/helm ] || { echo "building helm $(HELM_VERSION) into $(HELM_DIR)" >&2; \
	  GOBIN=$(HELM_DIR) GOFLAGS=-buildvcs=false GOWORK=off $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION); }

# OpenReports' CRDs from the module version in go.mod, for the kustomize
# directory and the chart (manifests/openreports_test.go checks the copies).
openreports-crds:
	@d=$$($(GO) list -m -f '{{.Dir}}' github.com/openreports/reports-api) && \
	  for f in openreports.io_clusterreports.yaml openreports.io_reports.yaml; do \
	    install -m 644 $$d/config/crd/$$f manifests/openreports/$$f; \
	    install -m 644 $$d/config/crd/$$f manifests/helm/nodeguard/crds/$$f; done

# The kubelet's own flag set and defaulting code as an independent reference
# (a separate module: it requires k8s.io/kubernetes): the pinned version live,
# the other versions of integration/kubeletdefaults/versions.txt through the
# results their code recorded in testdata/dumps.
reference:
	cd integration/kubeletdefaults && $(GO) test -count=1 ./...

# The same against fresh dumps: builds every version (minutes each, cached
# under ~/.cache/nodeguard/kubeletref and the Go build cache).
reference-fresh:
	./integration/kubeletdefaults/versions.sh test

# Regenerate probes/kubelet/zz_generated_versions.go (flag tables and
# defaults per kubelet version) and the recorded dumps from each version's code.
kubelet-tables:
	./integration/kubeletdefaults/versions.sh generate

# Regenerate probes/kubelet/internal/config/v1beta1/zz_generated_types.go,
# the probes' copy of k8s.io/kubelet's KubeletConfiguration types (with the
# component-base types they use), from the module versions in go.mod; run
# it after bumping k8s.io/kubelet (a test fails until then).
kubelet-types:
	$(GO) generate ./probes/kubelet

# Regenerate probes/release/zz_generated_table.go (Kubernetes minor releases,
# their newest patches and end of support) from the Go module proxy. It needs
# the network, so make test uses the committed table; review the goldens
# after it (go test ./probes/all -update).
release-table:
	cd probes/release && $(GO) run ./internal/gentable -out zz_generated_table.go -overrides eol-official.txt

# The eBPF rule tests on other kernels: Debian's linux-image packages booted
# under qemu (KVM when usable, else TCG), cached under ~/.cache/nodeguard.
# KERNELS_FLAGS=-update rewrites docs/kernels.md from the run.
kernels:
	$(GO) test -count=1 -v -timeout 30m -run TestKernelMatrix ./integration/kernels $(KERNELS_FLAGS)

# Every test: root-only tests (ss, eBPF, namespaces) run when make test runs as root.
test: deps vet bpf-check kube-binaries go-binaries helm-binary unit e2e kernels reference

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

image:
	docker build --build-arg VERSION=$(VERSION) \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	  -t nodeguard:$(VERSION) .

# CycloneDX SBOMs of the built binaries (cyclonedx-gomod, from the module proxy).
sbom: build
	GO=$(GO) ./integration/sbom/sbom.sh $(BIN) bin/nodeguard.cdx.json $(VERSION)
	GO=$(GO) ./integration/sbom/sbom.sh $(AGENT) bin/nodeguard-agent.cdx.json $(VERSION)

clean:
	rm -rf bin
