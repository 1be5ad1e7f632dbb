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

// Command image builds a container image tarball from static binaries, with no Docker engine
// and no registry. The image has an empty base: one layer holding the binaries at the root
// (/manager, /transfer, ...), a CA bundle, and passwd and group entries for the non-root user
// 65532 that the image runs as. The output is a `docker save` tarball, which
// `ctr -n k8s.io images import` and `docker load` both read.
//
// Usage:
//
//	go run ./hack/image -o bin/ferry-image.tar -tag ferry:dev -bin bin/manager -bin bin/transfer
//
// The entrypoint defaults to the first binary; -entrypoint picks another one, and a pod spec's
// command overrides it per use.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// binaryList collects the repeated -bin flag.
type binaryList []string

func (b *binaryList) String() string { return strings.Join(*b, ",") }

func (b *binaryList) Set(path string) error {
	*b = append(*b, path)
	return nil
}

func main() {
	var (
		opts     Options
		binaries binaryList
		output   string
	)
	flag.StringVar(&output, "o", "", "path of the image tarball to write (required)")
	flag.StringVar(&opts.Tag, "tag", "", "image reference to tag the image with, for example ferry:dev (required)")
	flag.Var(&binaries, "bin", "static binary to copy to /<file name> in the image (repeatable, at least one)")
	flag.StringVar(&opts.Entrypoint, "entrypoint", "", "file name of the binary to run (default: the first -bin)")
	flag.StringVar(&opts.CABundle, "ca-bundle", DefaultCABundle, "PEM file to install as /etc/ssl/certs/ca-certificates.crt; empty for none")
	flag.Parse()
	opts.Binaries = binaries

	if output == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "image: -o is required and positional arguments are not accepted; see -help")
		os.Exit(2)
	}
	if err := Write(output, opts); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("image: wrote %s (%s) with %s\n", output, opts.Tag, strings.Join(binaries, " "))
}
