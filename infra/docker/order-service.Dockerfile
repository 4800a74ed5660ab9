# syntax=docker/dockerfile:1
# order-service image. The build context is the repository root (the Go workspace):
#   docker build -f infra/docker/order-service.Dockerfile -t ghcr.io/shopworks/order-service:dev .
# infra/docker-compose.yml builds it the same way (context: ..). The files that may enter the
# context are listed in order-service.Dockerfile.dockerignore beside this file (BuildKit reads
# <Dockerfile>.dockerignore before a .dockerignore at the context root).

# Must be >= the go line of go.work: the golang image sets GOTOOLCHAIN=local and will not fetch a
# newer toolchain.
ARG GO_VERSION=1.26

# ---- build ------------------------------------------------------------------------------------
# Runs on the build machine's platform and cross-compiles (pure Go, CGO_ENABLED=0), so a
# multi-platform build (--platform linux/amd64,linux/arm64) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# The build runs in workspace mode, exactly like `make build`. The go command refuses a workspace
# whose module directories are missing, so every module's go.mod (and go.sum) comes in, at its
# path (--parents), whatever modules go.work lists; go.work.sum holds the workspace's checksums.
COPY --parents go.work go.work.sum */go.mod */go.sum ./

# Sources: only the modules this binary is built from (itself and the workspace modules it
# requires, checked by infra/docker_test.go against its go.mod) and the API documents. Test
# files are excluded by the ignore file.
COPY api/ api/
COPY clients/ clients/
COPY platform/ platform/
COPY order-service/ order-service/

# The module and build caches are BuildKit cache mounts: rebuilds download and compile only what
# changed, and nothing of them ends up in a layer. No separate `go mod download` step: in a
# workspace it would fetch the dependencies of every module (k8s, compose, chromedp...), while
# `go build` fetches only the ones this binary imports.
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/order-service ./order-service/cmd/order-service

# ---- run --------------------------------------------------------------------------------------
# Static binary on distroless: CA certificates, tzdata and /etc/passwd, no shell, no package
# manager. The image's nonroot user is uid/gid 65532; Kubernetes manifests set runAsUser: 65532
# because the kubelet cannot check runAsNonRoot against a user *name*.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="order-service" \
      org.opencontainers.image.source="https://github.com/shopworks/shop"
COPY --from=build /out/order-service /order-service
USER nonroot:nonroot
EXPOSE 4000
# Subcommands: none = serve (migrates first, under a lock), `migrate`, `healthcheck`.
ENTRYPOINT ["/order-service"]
