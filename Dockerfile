# syntax=docker/dockerfile:1
# Static, CGO-free nodeguard in an image with no shell and no package manager.
# Two executables: nodeguard, the light one-shot commands, which executes
# nodeguard-agent (every command, with the agent's dependencies) for run,
# watch and report in the same process (README, "How it is built").
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/nodeguard/nodeguard/agent/release.Version=${VERSION}" \
      -o /out/ ./cmd/nodeguard ./cmd/nodeguard-agent

# The agent needs no libc, shell, CA bundle (it trusts the service account's
# CA file) or user database: scratch plus the two binaries is the whole image.
# nodeguard-agent must sit next to nodeguard.
FROM scratch
# REVISION (the git commit) and CREATED (RFC 3339) come from `make image`;
# they are build arguments so that the same source builds the same image.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="nodeguard" \
      org.opencontainers.image.description="Kubernetes node-hardening agent: ports, sshd, kubelet, kernel, packages, eBPF runtime checks" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/nodeguard/nodeguard" \
      org.opencontainers.image.url="https://github.com/nodeguard/nodeguard" \
      org.opencontainers.image.documentation="https://github.com/nodeguard/nodeguard/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/nodeguard /nodeguard
COPY --from=build /out/nodeguard-agent /nodeguard-agent
# The image defaults to an unprivileged user (65532), which is enough for
# `nodeguard scan` of a host tree the user can read. The DaemonSet runs it as
# uid 0 with every capability dropped except the ones it needs (README,
# "Privileges"), because Kubernetes cannot grant ambient capabilities to a
# non-root user. Capabilities it is granted there: CAP_DAC_READ_SEARCH,
# CAP_SYS_PTRACE, CAP_BPF, CAP_PERFMON (manifests/daemonset.yaml says why).
USER 65532:65532
EXPOSE 9809
ENTRYPOINT ["/nodeguard"]
CMD ["run", "--host-root", "/host"]
