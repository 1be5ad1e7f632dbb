# syntax=docker/dockerfile:1
# One image holds Ferry's three binaries: /manager (the operator, the default entrypoint),
# /transfer (run by TransferJob pods) and /controlplane (the reference control plane). All are
# static, so the final stage is a distroless base with no shell, running as the non-root user
# 65532. Without a Docker engine, make image builds an equivalent tarball (hack/image).

FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src

# Module downloads sit in their own layer, so changing code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/manager ./cmd/transfer ./cmd/controlplane

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /out/transfer /out/controlplane /
USER 65532:65532
ENTRYPOINT ["/manager"]
