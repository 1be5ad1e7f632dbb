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
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildPause compiles the pause command as a static binary under dir and returns its path.
func buildPause(t *testing.T, dir, fileName string) string {
	t.Helper()
	out := filepath.Join(dir, fileName)
	cmd := exec.Command("go", "build", "-o", out, "./pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./pause: %v\n%s", err, output)
	}
	return out
}

func TestWriteProducesLoadableImage(t *testing.T) {
	dir := t.TempDir()
	first := buildPause(t, dir, "first")
	second := filepath.Join(dir, "second")
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, data, 0o755); err != nil {
		t.Fatal(err)
	}
	caBundle := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caBundle, []byte("test bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out", "image.tar")
	opts := Options{Tag: "example.test/ferry:dev", Binaries: []string{first, second}, Entrypoint: "second", CABundle: caBundle}
	if err := Write(out, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}

	tag, err := name.NewTag(opts.Tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("reading back %s: %v", out, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Config.User, "65532:65532"; got != want {
		t.Errorf("user = %q, want %q", got, want)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/second" {
		t.Errorf("entrypoint = %q, want [/second]", got)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform = %s/%s, want linux and an architecture", cfg.OS, cfg.Architecture)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	files := layerFiles(t, layers[0].Uncompressed)
	for _, want := range []string{"first", "second", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
		if _, ok := files[want]; !ok {
			t.Errorf("layer lacks %s; it has %v", want, files)
		}
	}
	if mode := files["second"]; mode&0o111 == 0 {
		t.Errorf("second has mode %o, want it executable", mode)
	}

	// The same inputs give the same image, so rebuilding does not churn the containerd store.
	again := filepath.Join(dir, "again.tar")
	if err := Write(again, opts); err != nil {
		t.Fatal(err)
	}
	imgAgain, err := tarball.ImageFromPath(again, &tag)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	digestAgain, _ := imgAgain.Digest()
	if digest != digestAgain {
		t.Errorf("digests differ between identical builds: %s and %s", digest, digestAgain)
	}
}

// layerFiles returns the mode of every entry in a layer, keyed by path.
func layerFiles(t *testing.T, open func() (io.ReadCloser, error)) map[string]int64 {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = hdr.Mode
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	static := buildPause(t, dir, "pause")
	notELF := filepath.Join(dir, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	type testCase struct {
		name    string
		opts    Options
		wantErr string
	}
	tests := []testCase{
		{name: "no binaries", opts: Options{Tag: "a:b"}, wantErr: "pass at least one -bin"},
		{name: "not ELF", opts: Options{Binaries: []string{notELF}}, wantErr: "not a readable ELF executable"},
		{name: "unknown entrypoint", opts: Options{Binaries: []string{static}, Entrypoint: "manager"}, wantErr: `entrypoint "manager" is not one of the binaries`},
		{name: "duplicate names", opts: Options{Binaries: []string{static, static}}, wantErr: "two binaries are named pause"},
		{name: "missing CA bundle", opts: Options{Binaries: []string{static}, CABundle: filepath.Join(dir, "absent.pem")}, wantErr: "failed to read CA bundle"},
	}
	// A host shell is normally dynamically linked; skip that case where it is not.
	if sh, err := exec.LookPath("sh"); err == nil && checkStatic(sh) != nil {
		tests = append(tests, testCase{name: "dynamic binary", opts: Options{Binaries: []string{sh}}, wantErr: "CGO_ENABLED=0"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteRejectsBadTag(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "x.tar"), Options{Tag: "Not A Tag"})
	if err == nil || !strings.Contains(err.Error(), `invalid -tag "Not A Tag"`) {
		t.Fatalf("Write error = %v, want an invalid tag error", err)
	}
}
