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

// Command hello is the workload of the cluster smoke test: it prints one line naming its user
// and writes a termination message, the two channels a TransferJob pod reports through.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("hello from the ferry cluster test, uid=%d\n", os.Getuid())
	if err := os.WriteFile("/dev/termination-log", []byte(`{"result":"ok"}`), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "failed to write the termination message: %v\n", err)
		os.Exit(1)
	}
}
