package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/ferryhq/ferry/transfer/spec"
)

// sqliteFile creates a SQLite database in a temporary directory and runs stmts on it.
func sqliteFile(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path
}

func TestSQLiteUnknownColumn(t *testing.T) {
	path := sqliteFile(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a')")
	job := spec.Job{
		Source: spec.Source{Connection: spec.Connection{Type: spec.TypeSQLite, Path: path},
			Table: "t", Columns: []string{"id", "nosuch"}},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV,
			Path: filepath.Join(t.TempDir(), "out.csv")}},
	}
	_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
	if ExitCode(err) != ExitInvalidJob {
		t.Fatalf("run: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
	}
	if !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("run error does not name the column: %v", err)
	}
	if _, err := Check(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitInvalidJob {
		t.Errorf("check: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
	}

	// Column names are case-insensitive in SQLite, as in the query itself.
	job.Source.Columns = []string{"ID", "v"}
	if sum := runJob(t, job); sum.Rows != 1 {
		t.Errorf("rows = %d, want 1", sum.Rows)
	}
}

// sqliteRows returns every row of q on the database at path as text, with NULL as "NULL".
func sqliteRows(t *testing.T, path, q string) [][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLastRecordMustMatchKeyType(t *testing.T) {
	path := sqliteFile(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	job := spec.Job{
		Source: spec.Source{Connection: spec.Connection{Type: spec.TypeSQLite, Path: path}, Table: "t"},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV,
			Path: filepath.Join(t.TempDir(), "out.csv")}},
		Incremental: true,
		LastRecord:  map[string]json.RawMessage{"id": json.RawMessage(`"abc"`)},
	}
	_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
	if ExitCode(err) != ExitInvalidJob {
		t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
	}
	if !strings.Contains(err.Error(), "lastRecord.id") || !strings.Contains(err.Error(), `"abc"`) {
		t.Errorf("error does not name lastRecord.id and its value: %v", err)
	}

	// A number may come as a JSON string, as summaries write large integers.
	job.LastRecord = map[string]json.RawMessage{"id": json.RawMessage(`"1"`)}
	if sum := runJob(t, job); sum.Rows != 1 {
		t.Errorf("rows after id 1 = %d, want 1", sum.Rows)
	}
}
