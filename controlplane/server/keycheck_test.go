package server_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/controlplane/store"
)

// newSealer returns a Sealer with a new random key.
func newSealer(t *testing.T) *secrets.Sealer {
	t.Helper()
	text, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := secrets.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return sealer
}

// checkKey opens dsn and runs CheckEncryptionKey with sealer.
func checkKey(t *testing.T, dsn string, sealer *secrets.Sealer) error {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return server.CheckEncryptionKey(context.Background(), db, sealer)
}

// execRaw runs a statement on the database behind dsn, outside the store.
func execRaw(t *testing.T, dsn, stmt string) {
	t.Helper()
	driver, source := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		driver, source = "sqlite", path
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func TestEncryptionKeyCheckedAtStart(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		status, body := h.call(http.MethodPost, "/api/v1/connections", h.env.AdminToken,
			[]byte(`{"name":"db","type":"mysql","host":"h","database":"d","user":"u","password":"hunter2"}`))
		if status != http.StatusCreated {
			t.Fatalf("create connection status = %d (%s), want 201", status, body.Message)
		}
		h.env.Stop()

		err := checkKey(t, h.env.DSN, newSealer(t))
		if !errors.Is(err, server.ErrWrongEncryptionKey) {
			t.Fatalf("CheckEncryptionKey with another key = %v, want ErrWrongEncryptionKey", err)
		}
		if !strings.Contains(err.Error(), "created with another encryption key") {
			t.Errorf("error %q does not say the database has another key", err)
		}

		h.env.Restart()
		if status, body := h.call(http.MethodGet, "/api/v1/connections/db", h.env.AdminToken, nil); status != http.StatusOK {
			t.Errorf("GET connection after a restart with the same key = %d (%s), want 200", status, body.Message)
		}
	})
}

func TestEncryptionKeyCheckedOnOldDatabase(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		status, body := h.call(http.MethodPost, "/api/v1/connections", h.env.AdminToken,
			[]byte(`{"name":"db","type":"postgres","host":"h","database":"d","user":"u","password":"hunter2"}`))
		if status != http.StatusCreated {
			t.Fatalf("create connection status = %d (%s), want 201", status, body.Message)
		}
		h.env.Stop()
		// A database from before the check value existed has only the
		// sealed passwords to check the key against.
		execRaw(t, h.env.DSN, "DELETE FROM settings")

		if err := checkKey(t, h.env.DSN, newSealer(t)); !errors.Is(err, server.ErrWrongEncryptionKey) {
			t.Fatalf("CheckEncryptionKey with another key = %v, want ErrWrongEncryptionKey", err)
		}
		h.env.Restart()
		if status, body := h.call(http.MethodGet, "/api/v1/connections/db", h.env.AdminToken, nil); status != http.StatusOK {
			t.Errorf("GET connection after a restart with the same key = %d (%s), want 200", status, body.Message)
		}
		h.env.Stop()
		if err := checkKey(t, h.env.DSN, newSealer(t)); !errors.Is(err, server.ErrWrongEncryptionKey) {
			t.Errorf("CheckEncryptionKey after the check value was stored again = %v, want ErrWrongEncryptionKey", err)
		}
	})
}
