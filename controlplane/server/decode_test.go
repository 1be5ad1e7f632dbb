package server_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestDecodeErrorsNameJSONShape(t *testing.T) {
	h := newHarness(t, "")
	cases := []struct {
		name, path, body, want string
	}{
		{"array body", "/api/v1/clusters", `[{"name":"x"}]`, "request body must be a JSON object, got a JSON array"},
		{"string body", "/api/v1/clusters", `"x"`, "request body must be a JSON object, got a JSON string"},
		{"number for string", "/api/v1/clusters", `{"name":5}`, `field "name" must be a JSON string, got a JSON number`},
		{"string for object", "/api/v1/configs", `{"name":"c","source":"x"}`, `field "source" must be a JSON object, got a JSON string`},
		{"string for array", "/api/v1/configs", `{"name":"c","source":{"columns":"id"}}`, `field "source.columns" must be a JSON array, got a JSON string`},
		{"fraction for integer", "/api/v1/configs", `{"name":"c","parallelism":1.5}`, `field "parallelism" must be a JSON integer, got 1.5`},
		{"bool for integer", "/api/v1/configs", `{"name":"c","parallelism":true}`, `field "parallelism" must be a JSON integer, got true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.call(http.MethodPost, tc.path, h.env.AdminToken, []byte(tc.body))
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", status)
			}
			if !strings.Contains(body.Message, tc.want) {
				t.Errorf("message = %q, want it to contain %q", body.Message, tc.want)
			}
			for _, goName := range []string{"admin.", "protocol.", "[]string", "float64", "want "} {
				if strings.Contains(body.Message, goName) {
					t.Errorf("message %q names the Go type %q", body.Message, goName)
				}
			}
		})
	}
}

func TestConfigInvalidModeNamed(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness) {
		cluster, _ := h.env.CreateCluster(t, "tokyo")
		for _, conn := range []string{
			`{"name":"src","type":"sqlite","path":"/tmp/src.db"}`,
			`{"name":"out","type":"csv","path":"/tmp/out.csv"}`,
			`{"name":"dst","type":"sqlite","path":"/tmp/dst.db"}`,
		} {
			if status, body := h.call(http.MethodPost, "/api/v1/connections", h.env.AdminToken, []byte(conn)); status != http.StatusCreated {
				t.Fatalf("create connection %s = %d (%s), want 201", conn, status, body.Message)
			}
		}
		for _, dst := range []string{`{"connection":"out","mode":"upsert"}`, `{"connection":"dst","mode":"upsert"}`} {
			body := `{"name":"c","cluster":"` + cluster.Name + `","source":{"connection":"src","table":"t"},"destination":` + dst + `}`
			status, resp := h.call(http.MethodPost, "/api/v1/configs", h.env.AdminToken, []byte(body))
			if status != http.StatusBadRequest {
				t.Errorf("destination %s: status = %d, want 400", dst, status)
			}
			if want := `destination.mode: invalid value "upsert"`; !strings.Contains(resp.Message, want) {
				t.Errorf("destination %s: message = %q, want it to contain %q", dst, resp.Message, want)
			}
		}
	})
}
