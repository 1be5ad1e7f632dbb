package transfer

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/transfer/spec"
)

func TestMain(m *testing.M) {
	// The engine must not depend on the process time zone; run it in one
	// far from UTC unless a test picks another.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err == nil {
		time.Local = tokyo
	}
	os.Exit(testdb.Main(m))
}

func mysqlConn(srv *testdb.Server, db string) spec.Connection {
	return spec.Connection{Type: spec.TypeMySQL, Host: srv.Host(), Port: srv.Port(), Database: db,
		User: srv.User(), Password: spec.Secret(srv.Password())}
}

func postgresConn(srv *testdb.Server, db string) spec.Connection {
	return spec.Connection{Type: spec.TypePostgres, Host: srv.Host(), Port: srv.Port(), Database: db,
		User: srv.User(), Password: spec.Secret(srv.Password())}
}

func connFor(srv *testdb.Server, db string) spec.Connection {
	if srv.Kind() == testdb.KindPostgres {
		return postgresConn(srv, db)
	}
	return mysqlConn(srv, db)
}

// execSQL runs statements on a test server's database.
func execSQL(t *testing.T, srv *testdb.Server, db string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if srv.Kind() == testdb.KindPostgres {
		conn, err := pgx.Connect(ctx, srv.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		return
	}
	conn, err := sql.Open("mysql", srv.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := conn.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// queryText returns every row of q as text, with NULL as "NULL".
func queryText(t *testing.T, srv *testdb.Server, db, q string) [][]string {
	t.Helper()
	ctx := context.Background()
	var out [][]string
	if srv.Kind() == testdb.KindPostgres {
		conn, err := pgx.Connect(ctx, srv.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			var row []string
			for _, v := range rows.RawValues() {
				if v == nil {
					row = append(row, "NULL")
				} else {
					row = append(row, string(v))
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	conn, err := sql.Open("mysql", srv.DSN(db)+"&time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		dest := make([]any, len(cols))
		for i := range raw {
			dest[i] = &raw[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, v := range raw {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, string(v))
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func joinRows(rows [][]string) string {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = strings.Join(r, "|")
	}
	return strings.Join(lines, "\n")
}

func assertRows(t *testing.T, srv *testdb.Server, db, q, want string) {
	t.Helper()
	got := joinRows(queryText(t, srv, db, q))
	want = strings.TrimSpace(want)
	if got != want {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", q, got, want)
	}
}

// runJob runs job in-process and fails the test on error.
func runJob(t *testing.T, job spec.Job) Summary {
	t.Helper()
	sum, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
	if err != nil {
		t.Fatalf("Run failed (exit code %d): %v", ExitCode(err), err)
	}
	return sum
}

func tableJob(src spec.Connection, srcTable string, dst spec.Connection, dstTable string) spec.Job {
	return spec.Job{
		Source:      spec.Source{Connection: src, Table: srcTable},
		Destination: spec.Destination{Connection: dst, Table: dstTable},
	}
}
