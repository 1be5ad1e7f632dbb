package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validYAML = `
type: transfer
source:
  type: mysql
  host: 127.0.0.1
  database: shop
  user: ferry
  password: hunter2
  table: orders
  columns: [id, total]
  where: "total > 0"
destination:
  type: postgres
  host: db.internal
  database: dwh
  user: loader
  passwordFromEnv: DWH_PASSWORD
  table: orders
  mode: merge
  mergeKeys: [id]
incremental: true
incrementalColumns: [id]
lastRecord: {"id": 18446744073709551615}
`

func TestDecodeValidJob(t *testing.T) {
	job, err := Decode([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	if job.Source.Port != DefaultMySQLPort {
		t.Errorf("source.port = %d, want default %d", job.Source.Port, DefaultMySQLPort)
	}
	if job.Destination.Port != DefaultPostgresPort {
		t.Errorf("destination.port = %d, want default %d", job.Destination.Port, DefaultPostgresPort)
	}
	if job.Source.Password.Value() != "hunter2" {
		t.Errorf("source.password was not decoded")
	}
	if got := string(job.LastRecord["id"]); got != "18446744073709551615" {
		t.Errorf("lastRecord.id = %s, want the exact integer", got)
	}
	if !job.Destination.ShouldCreateTable() {
		t.Errorf("createTable should default to true")
	}
	if job.PreviewRows != DefaultPreviewRows || job.BatchBytes != DefaultBatchBytes {
		t.Errorf("defaults not applied: previewRows=%d batchBytes=%d", job.PreviewRows, job.BatchBytes)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "source: {type: csv, path: a.csv, delimter: x}\ndestination: {type: jsonl, path: b}", `"delimter"`},
		{"unknown top key", "sorce: {}\n", `"sorce"`},
		{"wrong type", "source: {type: mysql, host: h, port: \"3306\", database: d, user: u, table: t}\ndestination: {type: jsonl, path: b}", `"source.port"`},
		{"wrong list type", "source: {type: mysql, host: h, database: d, user: u, table: t, columns: id}\ndestination: {type: jsonl, path: b}", `"source.columns"`},
		{"missing source type", "source: {path: a.csv}\ndestination: {type: jsonl, path: b}", "source.type"},
		{"missing host", "source: {type: postgres, database: d, user: u, table: t}\ndestination: {type: jsonl, path: b}", "source.host"},
		{"missing destination", "source: {type: csv, path: a.csv}\n", "destination"},
		{"duplicate key", "source: {type: csv, path: a.csv}\nsource: {type: csv, path: b.csv}\n", "source"},
		{"empty document", "", "empty"},
		{"bad mode", "source: {type: csv, path: a.csv}\ndestination: {type: sqlite, path: x.db, table: t, mode: upsert}", "destination.mode"},
		{"parquet source", "source: {type: parquet, path: a.parquet}\ndestination: {type: jsonl, path: b}", "source.type"},
		{"two passwords", "source: {type: mysql, host: h, database: d, user: u, table: t, password: p, passwordFile: /f}\ndestination: {type: jsonl, path: b}", "source.password"},
		{"table and query", "source: {type: sqlite, path: a.db, table: t, query: SELECT 1}\ndestination: {type: jsonl, path: b}", "source.query"},
		{"lastRecord without incremental", "source: {type: sqlite, path: a.db, table: t}\ndestination: {type: jsonl, path: b}\nlastRecord: {id: 1}", "lastRecord"},
		{"lastRecord unknown column", "source: {type: sqlite, path: a.db, table: t}\ndestination: {type: jsonl, path: b}\nincremental: true\nincrementalColumns: [id]\nlastRecord: {idx: 1}", "lastRecord.idx"},
		{"negative parallelism", "source: {type: csv, path: a.csv}\ndestination: {type: jsonl, path: b}\nparallelism: -1", "parallelism"},
		{"bad compression", "source: {type: csv, path: a.csv, compression: zstd}\ndestination: {type: jsonl, path: b}", "source.compression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Decode succeeded, want an error naming %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

func TestValidateReportsFieldErrors(t *testing.T) {
	job := Job{Source: Source{Connection: Connection{Type: TypeMySQL}, Table: "t"},
		Destination: Destination{Connection: Connection{Type: TypeJSONL, Path: "out.jsonl"}}}
	job.ApplyDefaults()
	err := job.Validate()
	var fieldErr *FieldError
	if !errors.As(err, &fieldErr) {
		t.Fatalf("Validate() = %v, want a *FieldError inside", err)
	}
	for _, field := range []string{"source.host", "source.database", "source.user"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestPreviewNeedsNoDestination(t *testing.T) {
	if _, err := Decode([]byte("type: preview\nsource: {type: csv, path: in.csv.gz}")); err != nil {
		t.Fatal(err)
	}
}

func TestCompressionFromSuffix(t *testing.T) {
	job, err := Decode([]byte("type: preview\nsource: {type: csv, path: in.csv.gz}"))
	if err != nil {
		t.Fatal(err)
	}
	if job.Source.Compression != CompressionGzip {
		t.Errorf("compression = %q, want gzip", job.Source.Compression)
	}
}

func TestSecretRedactedInOutput(t *testing.T) {
	job, err := Decode([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":  fmt.Sprintf("%v", job),
		"%+v": fmt.Sprintf("%+v", job),
		"%#v": fmt.Sprintf("%#v", job),
		"%s":  fmt.Sprintf("%s", job.Source.Password),
		"%q":  fmt.Sprintf("%q", job.Source.Password),
		"%x":  fmt.Sprintf("%x", job.Source.Password),
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("job", "password", job.Source.Password)
	outputs["slog"] = buf.String()
	redactedJSON, err := json.Marshal(job.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	outputs["Redacted JSON"] = string(redactedJSON)

	for name, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s output contains the password: %s", name, out)
		}
	}
	if !strings.Contains(outputs["%s"], Redacted) {
		t.Errorf("%%s output = %q, want %s", outputs["%s"], Redacted)
	}
}

func TestJobJSONRoundTrip(t *testing.T) {
	job, err := Decode([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(wire)
	if err != nil {
		t.Fatalf("decoding the JSON form: %v\n%s", err, wire)
	}
	if back.Source.Password.Value() != "hunter2" {
		t.Errorf("password lost in the JSON round trip: %s", wire)
	}
	if string(back.LastRecord["id"]) != "18446744073709551615" {
		t.Errorf("lastRecord changed in the JSON round trip: %s", back.LastRecord["id"])
	}
}

func TestResolvePassword(t *testing.T) {
	t.Setenv("FERRY_TEST_PW", "from-env")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := Connection{PasswordFromEnv: "FERRY_TEST_PW"}.ResolvePassword()
	if err != nil || got.Value() != "from-env" {
		t.Errorf("passwordFromEnv: got %q, %v", got.Value(), err)
	}
	got, err = Connection{PasswordFile: file}.ResolvePassword()
	if err != nil || got.Value() != "from-file" {
		t.Errorf("passwordFile: got %q, %v", got.Value(), err)
	}
	_, err = Connection{PasswordFromEnv: "FERRY_TEST_UNSET_PW"}.ResolvePassword()
	if err == nil || !strings.Contains(err.Error(), "FERRY_TEST_UNSET_PW") {
		t.Errorf("unset variable: error %v does not name the variable", err)
	}
}
