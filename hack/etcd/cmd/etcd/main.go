// Command etcd runs the upstream etcd server from go.etcd.io/etcd/server/v3, built from the Go
// module proxy so that envtest and the local cluster need no release download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
