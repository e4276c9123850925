# syntax=docker/dockerfile:1
# Every service's image: the build arg SERVICE names the service's folder
# (one of infra/stack/services).
#   docker build --build-arg SERVICE=auth -t ticketing/auth .
# Build context: the repository root, because each service uses ../common.
# The Go version is the toolchain pinned in go.work; the module builds on
# its own (GOWORK=off), as `make build` checks.
FROM golang:1.26.8-bookworm AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<service>, e.g. SERVICE=auth" >&2; exit 1; }
WORKDIR /src
COPY common/ common/
COPY ${SERVICE}/ ${SERVICE}/
WORKDIR /src/${SERVICE}
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/service .

# Static binary on distroless: no shell, no package manager, non-root. An
# exec-form ENTRYPOINT takes no build arg, so the binary has one name in
# every image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/service /service
USER nonroot:nonroot
EXPOSE 3000
ENTRYPOINT ["/service"]
