package testdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
)

// installMu serialises apt-get runs started by this process. apt-get itself
// waits for locks held by other processes (DPkg::Lock::Timeout).
var installMu sync.Mutex

// ensureInstalled installs the Debian packages when binary is missing.
func ensureInstalled(ctx context.Context, binary string, packages ...string) error {
	if _, err := exec.LookPath(binary); err == nil {
		return nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := exec.LookPath(binary); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s not found and not running as root; install the Debian packages %v", binary, packages)
	}

	install := append([]string{"-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends"}, packages...)
	err := aptGet(ctx, install...)
	if err != nil {
		// A fresh machine may have empty package lists.
		if updateErr := aptGet(ctx, "-o", "DPkg::Lock::Timeout=600", "update"); updateErr != nil {
			return fmt.Errorf("failed to install %v: %w; apt-get update also failed: %v", packages, err, updateErr)
		}
		err = aptGet(ctx, install...)
	}
	if err != nil {
		return fmt.Errorf("failed to install %v: %w", packages, err)
	}
	if _, err := exec.LookPath(binary); err != nil {
		return fmt.Errorf("installed %v but %s is still not found: %w", packages, binary, err)
	}
	return nil
}

func aptGet(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return runLogged(cmd)
}

// postgresBinDir returns the newest /usr/lib/postgresql/N/bin, installing
// the postgresql package first when no version is present.
func postgresBinDir(ctx context.Context) (string, error) {
	find := func() string {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
		if len(matches) == 0 {
			return ""
		}
		sort.Slice(matches, func(i, j int) bool {
			return len(matches[i]) < len(matches[j]) || len(matches[i]) == len(matches[j]) && matches[i] < matches[j]
		})
		return filepath.Dir(matches[len(matches)-1])
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	if err := ensureInstalled(ctx, "/usr/lib/postgresql/15/bin/postgres", "postgresql", "postgresql-client"); err != nil {
		// Another major version may have been installed.
		if dir := find(); dir != "" {
			return dir, nil
		}
		return "", err
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	return "", fmt.Errorf("postgresql installed but no /usr/lib/postgresql/*/bin/postgres found")
}
