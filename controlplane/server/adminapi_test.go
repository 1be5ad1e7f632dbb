package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol/client"
)

// wantAPIError checks that err is an admin API error with the given status
// whose message contains every one of parts.
func wantAPIError(t *testing.T, err error, status int, parts ...string) {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an API error with status %d", err, status)
	}
	if apiErr.StatusCode != status {
		t.Errorf("status = %d (%s), want %d", apiErr.StatusCode, apiErr.Message, status)
	}
	for _, part := range parts {
		if !strings.Contains(apiErr.Message, part) {
			t.Errorf("message %q does not contain %q", apiErr.Message, part)
		}
	}
}

func TestGetClusterAndConnection(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cluster, _ := h.env.CreateCluster(t, "tokyo")
		for _, ref := range []string{cluster.ID, cluster.Name} {
			got, err := h.env.Admin.GetCluster(h.ctx, ref)
			if err != nil {
				t.Fatalf("GetCluster %s: %v", ref, err)
			}
			if got.ID != cluster.ID || got.Name != "tokyo" || !got.CreatedAt.Equal(cluster.CreatedAt) {
				t.Errorf("GetCluster %s = %+v, want %+v", ref, got, cluster)
			}
		}
		_, err := h.env.Admin.GetCluster(h.ctx, "osaka")
		wantAPIError(t, err, http.StatusNotFound, `cluster "osaka" not found`)

		conn, err := h.env.Admin.CreateConnection(h.ctx, admin.CreateConnectionRequest{
			Name: "pg", Type: "postgres", Host: "db.internal", Database: "shop", User: "reader", Password: "s3cret-pw"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.env.Admin.GetConnection(h.ctx, "pg")
		if err != nil {
			t.Fatalf("GetConnection: %v", err)
		}
		if got.ID != conn.ID || got.Host != "db.internal" || !got.HasPassword {
			t.Errorf("GetConnection = %+v, want %+v", got, conn)
		}
		_, err = h.env.Admin.GetConnection(h.ctx, "mysql")
		wantAPIError(t, err, http.StatusNotFound, `connection "mysql" not found`)
	})
}
