//go:build cluster

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

// Package cluster holds the smoke test of the local single-node cluster (hack/cluster-up.sh):
// it starts the cluster, runs one pod from a home-made image to completion, reads its log and
// termination message, and stops the cluster. Run it with make test-e2e, as root.
package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const (
	testImage = "ferry.local/cluster-test:1"
	// podTimeout bounds the wait for the pod so a broken cluster fails the test instead of
	// hanging it; it is not a performance expectation.
	podTimeout = 3 * time.Minute
)

// repoRoot is the repository root relative to this package's directory, where go test runs.
var repoRoot = filepath.Join("..", "..")

// run executes a command from the repository root and fails the test with its output on error.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPodRunsToCompletion(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the local cluster needs root for the kubelet, containerd and runc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	t.Log(run(t, nil, "hack/cluster-up.sh"))
	t.Cleanup(func() {
		if os.Getenv("FERRY_KEEP_CLUSTER") == "1" {
			t.Log("FERRY_KEEP_CLUSTER=1: leaving the cluster running; stop it with make cluster-down")
			return
		}
		t.Log(run(t, nil, "hack/cluster-down.sh"))
	})

	// A static binary on an empty base, imported as the cluster has no registry.
	workDir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(workDir, "hello")
	tarball := filepath.Join(workDir, "hello.tar")
	run(t, []string{"CGO_ENABLED=0"}, "go", "build", "-o", binary, "./test/cluster/testdata/hello")
	run(t, nil, "go", "run", "./hack/image", "-o", tarball, "-tag", testImage, "-bin", binary, "-ca-bundle", "")
	run(t, nil, "hack/cluster-import.sh", tarball)

	kubeconfig, err := filepath.Abs(filepath.Join(repoRoot, ".cluster", "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", kubeconfig, err)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	pod := helloPod()
	if _, err := clientset.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}

	var phase corev1.PodPhase
	err = wait.PollUntilContextTimeout(ctx, time.Second, podTimeout, true, func(ctx context.Context) (bool, error) {
		current, err := clientset.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod, phase = current, current.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	if err != nil || phase != corev1.PodSucceeded {
		events := run(t, []string{"KUBECONFIG=" + kubeconfig}, kubectlPath(t), "get", "events", "-n", pod.Namespace)
		t.Fatalf("pod %s/%s ended in phase %q (wait error: %v); status: %+v\nevents:\n%s",
			pod.Namespace, pod.Name, phase, err, pod.Status, events)
	}

	logs := run(t, []string{"KUBECONFIG=" + kubeconfig}, kubectlPath(t), "logs", "-n", pod.Namespace, pod.Name)
	if want := "hello from the ferry cluster test, uid=65532"; !strings.Contains(logs, want) {
		t.Errorf("kubectl logs = %q, want it to contain %q", logs, want)
	}
	if n := len(pod.Status.ContainerStatuses); n != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("pod has no terminated container status: %+v", pod.Status.ContainerStatuses)
	}
	if got, want := pod.Status.ContainerStatuses[0].State.Terminated.Message, `{"result":"ok"}`; got != want {
		t.Errorf("termination message = %q, want %q", got, want)
	}
}

// helloPod returns a pod with the restrictions that Ferry's job pods carry: host network (the
// local cluster's only network), non-root, read-only root filesystem, no capabilities, the
// RuntimeDefault seccomp profile and no service-account token.
func helloPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "hello",
			Namespace: metav1.NamespaceDefault,
		},
		Spec: corev1.PodSpec{
			HostNetwork:                  true,
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            "hello",
				Image:           testImage,
				ImagePullPolicy: corev1.PullNever,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// kubectlPath returns the kubectl that hack/kube-binaries.sh built.
func kubectlPath(t *testing.T) string {
	t.Helper()
	dir := strings.TrimSpace(run(t, nil, "hack/kube-binaries.sh", "dir"))
	return filepath.Join(dir, "kubectl")
}
