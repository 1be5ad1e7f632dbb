package main

import (
	"bytes"
	"context"
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
