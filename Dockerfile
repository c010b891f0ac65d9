# Build the keyward binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# GOFIPS140 selects the Go Cryptographic Module: "off" (the default), or a
# module version (v1.0.0, as make build-fips) for a binary in FIPS 140-3
# mode (docs/fips.md): --build-arg GOFIPS140=v1.0.0.
ARG GOFIPS140=off

WORKDIR /workspace
# Copy the Go module manifests first and download the modules in their own
# layer, so that source changes do not download them again.
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

# Copy the Go source: .dockerignore lets in only cmd/, api/, controllers/,
# internal/, verifier/ and webhook/.
COPY . .

# GOARCH has no default, so the binary is built for the platform of the
# host where the command runs, or for --platform when docker buildx sets
# TARGETOS/TARGETARCH.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} GOFIPS140=${GOFIPS140} \
    go build -trimpath -ldflags "-s -w" -o keyward ./cmd/keyward

# Distroless static, nonroot: no shell, no package manager, runs as 65532.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/keyward .
USER 65532:65532

ENTRYPOINT ["/keyward"]
