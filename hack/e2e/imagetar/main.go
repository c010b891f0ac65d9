// Command imagetar packs one static binary as a one-layer OCI image and
// writes it as a tarball that `ctr images import` reads, so that images can
// be built on machines without a container engine.
//
// The image holds the binary at the root and nothing else; its config sets
// the user and the entrypoint, as the Dockerfile's final stage does.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	binary := flag.String("binary", "", "static binary to pack")
	target := flag.String("path", "", "absolute path of the binary in the image; it is also the entrypoint")
	user := flag.String("user", "65532:65532", "user:group the image runs as")
	tag := flag.String("tag", "", "image reference, such as keyward:dev")
	out := flag.String("out", "", "tarball to write")
	flag.Parse()
	if *binary == "" || *target == "" || *tag == "" || *out == "" || !path.IsAbs(*target) {
		flag.Usage()
		os.Exit(2)
	}
	if err := pack(*binary, *target, *user, *tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(1)
	}
}

func pack(binary, target, user, tag, out string) error {
	content, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	layerTar, err := oneFileTar(target[1:], content)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Config.User = user
	cf.Config.WorkingDir = "/"
	cf.Config.Entrypoint = []string{target}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// oneFileTar is a layer with one root-owned executable and fixed
// timestamps, so that the same binary always gives the same image digest.
func oneFileTar(name string, content []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(content)),
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
