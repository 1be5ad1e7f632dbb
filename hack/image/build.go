/*
Copyright 2026 The Ferry Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// NonRootUID is the user and group ID the image runs as: the "nonroot" user of the
	// distroless images, so pod security settings written for those fit this image too.
	NonRootUID = 65532

	// DefaultCABundle is the Debian path of the system CA bundle.
	DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// layerTime is the modification time of every file in the layer, fixed so that the same
// binaries always give the same layer digest.
var layerTime = time.Unix(0, 0).UTC()

// Options describes one image.
type Options struct {
	// Tag is the image reference, for example "ferry:dev" or "example.com/ferry/pause:1".
	Tag string
	// Binaries are paths of statically linked executables, each copied to /<file name>.
	Binaries []string
	// Entrypoint is the file name of the binary to run; empty means the first of Binaries.
	Entrypoint string
	// CABundle is a PEM file installed as /etc/ssl/certs/ca-certificates.crt; empty skips it.
	CABundle string
}

// Write builds the image that opts describes and writes it to path as a docker-save tarball.
func Write(path string, opts Options) error {
	ref, err := name.ParseReference(opts.Tag)
	if err != nil {
		return fmt.Errorf("invalid -tag %q, expected a reference such as ferry:dev: %w", opts.Tag, err)
	}
	img, err := Build(opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("failed to create the directory of %s: %w", path, err)
	}
	// Write to a temporary name first so that a failed run leaves no partial tarball behind.
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to write image %s to %s: %w", opts.Tag, path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("failed to move image tarball to %s: %w", path, err)
	}
	return nil
}

// Build returns a single-layer image for opts on an empty base.
func Build(opts Options) (v1.Image, error) {
	if len(opts.Binaries) == 0 {
		return nil, errors.New("no binaries given; pass at least one -bin path")
	}
	names := make([]string, 0, len(opts.Binaries))
	for _, bin := range opts.Binaries {
		base := filepath.Base(bin)
		if slices.Contains(names, base) {
			return nil, fmt.Errorf("two binaries are named %s; each -bin needs a distinct file name", base)
		}
		if err := checkStatic(bin); err != nil {
			return nil, err
		}
		names = append(names, base)
	}
	entrypoint := opts.Entrypoint
	if entrypoint == "" {
		entrypoint = names[0]
	}
	if !slices.Contains(names, entrypoint) {
		return nil, fmt.Errorf("entrypoint %q is not one of the binaries %v; pass one of their file names", entrypoint, names)
	}

	layerTar, err := buildLayer(opts)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("failed to add the layer to the image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("failed to read the image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Created = v1.Time{Time: layerTime}
	cfg.Config.Entrypoint = []string{"/" + entrypoint}
	cfg.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{
		"PATH=/",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to set the image config: %w", err)
	}
	return img, nil
}

// checkStatic rejects a file that is not a statically linked ELF executable, because an image
// with an empty base has no dynamic loader or libc to run anything else.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("binary %s is not a readable ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked; rebuild it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// buildLayer returns the uncompressed tar of the image's only layer.
func buildLayer(opts Options) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "tmp/"}
	for _, dir := range dirs {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: layerTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("failed to write directory %s to the layer: %w", dir, err)
		}
	}

	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID)
	if err := addFile(tw, "etc/passwd", []byte(passwd), 0o644); err != nil {
		return nil, err
	}
	if err := addFile(tw, "etc/group", []byte(group), 0o644); err != nil {
		return nil, err
	}

	if opts.CABundle != "" {
		pem, err := os.ReadFile(opts.CABundle)
		if err != nil {
			return nil, fmt.Errorf("failed to read CA bundle %s (pass -ca-bundle \"\" to leave it out): %w", opts.CABundle, err)
		}
		if err := addFile(tw, "etc/ssl/certs/ca-certificates.crt", pem, 0o644); err != nil {
			return nil, err
		}
	}

	for _, bin := range opts.Binaries {
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("failed to read binary %s: %w", bin, err)
		}
		if err := addFile(tw, filepath.Base(bin), data, 0o755); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to finish the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// addFile writes one root-owned regular file to the layer.
func addFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     mode,
		Size:     int64(len(data)),
		ModTime:  layerTime,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("failed to write %s to the layer: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("failed to write %s to the layer: %w", name, err)
	}
	return nil
}
