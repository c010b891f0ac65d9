// Command imagetar packs one static binary as a one-layer OCI image and
// writes it as a tarball that `ctr images import` reads, so that images can
// be built on machines without a container engine.
//
// The image holds the binary and what the Dockerfile's distroless
// static:nonroot base gives it that a static Go binary may use: CA
// certificates (for an HTTPS notification sink), /etc/passwd and /etc/group
// naming the nonroot user 65532, its home and /tmp. Its config sets the user
// and the entrypoint, as the Dockerfile's final stage does. Time zones are
// embedded in keyward's binary.
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
	caCerts := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include; empty for none")
	flag.Parse()
	if *binary == "" || *target == "" || *tag == "" || *out == "" || !path.IsAbs(*target) {
		flag.Usage()
		os.Exit(2)
	}
	if err := pack(*binary, *target, *user, *tag, *out, *caCerts); err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(1)
	}
}

func pack(binary, target, user, tag, out, caCerts string) error {
	content, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, content: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: 65532},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	if caCerts != "" {
		pem, err := os.ReadFile(caCerts)
		if err != nil {
			return err
		}
		files = append(files,
			file{name: "etc/ssl/", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, content: pem})
	}
	files = append(files, file{name: target[1:], mode: 0o755, content: content})
	layerTar, err := layer(files)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
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

type file struct {
	name    string
	mode    int64
	dir     bool
	uid     int
	content []byte
}

// layer is a tar of files with fixed timestamps, so that the same binary
// always gives the same image digest.
func layer(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.content)),
			Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
