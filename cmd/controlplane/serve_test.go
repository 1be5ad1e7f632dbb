package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/secrets"
)

func TestServeRejectsInvalidPublicURL(t *testing.T) {
	t.Setenv("FERRY_ADMIN_TOKEN", "admin-token-for-test")
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_ENCRYPTION_KEY", key)
	t.Chdir(t.TempDir())
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--public-url", "ferry.example.com"}, &stderr, &stderr)
	if err == nil {
		t.Fatal("serve with --public-url ferry.example.com started, want an error")
	}
	for _, want := range []string{`"ferry.example.com"`, "https://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve --public-url ferry.example.com: %q, want it to contain %q", err, want)
		}
	}
}

func TestTrustedProxyFlag(t *testing.T) {
	var proxies listFlag
	for _, v := range []string{"10.0.0.0/8, 192.0.2.7", "fd00::/8"} {
		if err := proxies.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := strings.Join(proxies, " "), "10.0.0.0/8 192.0.2.7 fd00::/8"; got != want {
		t.Errorf("--trusted-proxy values = %q, want %q", got, want)
	}
}

func TestServeRejectsInvalidTrustedProxy(t *testing.T) {
	t.Setenv("FERRY_ADMIN_TOKEN", "admin-token-for-the-test")
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_ENCRYPTION_KEY", key)
	var stderr bytes.Buffer
	err = runServe(context.Background(), []string{"--db", filepath.Join(t.TempDir(), "ferry.db"), "--listen", "127.0.0.1:0",
		"--trusted-proxy", "10.0.0.0/99"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), `invalid trusted proxy "10.0.0.0/99"`) {
		t.Errorf("serve with --trusted-proxy 10.0.0.0/99: err = %v, want an invalid trusted proxy error", err)
	}
}
