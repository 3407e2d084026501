# syntax=docker/dockerfile:1
#
# jwtgate container image: a static binary on a distroless base, running as a
# non-root user, with nothing else in the image (no shell, no package manager).
#
#   docker build --build-arg VERSION="$(git describe --always --dirty)" -t jwtgate:local .
#   docker run --rm -p 127.0.0.1:8080:8080 jwtgate:local
#
# See docs/OPERATIONS.md for configuration, Kubernetes and docker compose.

# Build stage: compile on the build machine's platform for the target platform
# (docker buildx --platform linux/amd64,linux/arm64 works without emulation).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# CGO off: a static binary that needs no C library in the final image.
# -trimpath: no build-machine paths in the binary; -s -w: no symbol tables.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/jwtgate ./cmd/jwtgate

# Final stage: only the binary. distroless/static has CA certificates (for an
# https chat upstream), /etc/passwd with the nonroot user, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jwtgate /jwtgate
# Numeric, so that Kubernetes' runAsNonRoot can verify it (65532 is "nonroot").
USER 65532:65532
# In a container the listener must not be loopback-only.
ENV JWTGATE_SERVER_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/jwtgate", "serve"]
