// The e2e cluster's helper programs: a module of their own, so that the
// image library is no dependency of keyward itself.
module github.com/keyward-dev/keyward/hack/e2e

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
