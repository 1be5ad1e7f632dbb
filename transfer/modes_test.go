package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"

	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/transfer/spec"
)

// destinations returns the database destinations each mode test runs against.
func modeDestinations(t *testing.T) map[string]*testdb.Server {
	return map[string]*testdb.Server{"postgres": testdb.Postgres(t), "mariadb": testdb.MariaDB(t)}
}

func TestLoadModes(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		`CREATE TABLE "Items" (id int PRIMARY KEY, "Select" text, qty numeric(12,3))`,
		`INSERT INTO "Items" VALUES (2, 'two', 2.500), (3, 'three', NULL)`)

	for name, srv := range modeDestinations(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				mode spec.Mode
				want string
			}{
				{spec.ModeInsert, "1|old|1.000\n2|two|2.500\n3|three|NULL"},
				{spec.ModeTruncateInsert, "2|two|2.500\n3|three|NULL"},
				{spec.ModeReplace, "2|two|2.500\n3|three|NULL"},
				{spec.ModeMerge, "1|old|1.000\n2|two|2.500\n3|three|NULL"},
			} {
				t.Run(string(tc.mode), func(t *testing.T) {
					dst := srv.NewDatabase(t)
					q := func(s string) string {
						if srv.Kind() == testdb.KindMariaDB {
							return strings.ReplaceAll(s, `"`, "`")
						}
						return s
					}
					execSQL(t, srv, dst,
						q(`CREATE TABLE "Items" (id int PRIMARY KEY, "Select" varchar(20), qty decimal(12,3))`),
						q(`INSERT INTO "Items" VALUES (1, 'old', 1), (2, 'stale', 9)`))
					job := tableJob(postgresConn(pg, src), "Items", connFor(srv, dst), "Items")
					job.Destination.Mode = tc.mode
					if tc.mode == spec.ModeInsert {
						execSQL(t, srv, dst, "DELETE FROM "+q(`"Items"`)+" WHERE id = 2")
					}
					sum := runJob(t, job)
					if sum.Rows != 2 {
						t.Errorf("summary rows = %d, want 2", sum.Rows)
					}
					assertRows(t, srv, dst, q(`SELECT id, "Select", qty FROM "Items" ORDER BY id`), tc.want)
				})
			}
		})
	}
}

func TestReplaceKeepsOldTableOnFailure(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		"CREATE TABLE t (id int PRIMARY KEY, v text)",
		"INSERT INTO t VALUES (1, 'fine'), (2, 'far too long for the column')")

	for name, srv := range modeDestinations(t) {
		t.Run(name, func(t *testing.T) {
			dst := srv.NewDatabase(t)
			execSQL(t, srv, dst, "CREATE TABLE t (id int PRIMARY KEY, v varchar(5))", "INSERT INTO t VALUES (9, 'old')")
			job := tableJob(postgresConn(pg, src), "t", connFor(srv, dst), "t")
			job.Destination.Mode = spec.ModeReplace
			_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
			if ExitCode(err) != ExitDataError {
				t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitDataError)
			}
			assertRows(t, srv, dst, "SELECT id, v FROM t", "9|old")
		})
	}
}

func TestInsertFailureLeavesTableUnchanged(t *testing.T) {
	pg, maria := testdb.Postgres(t), testdb.MariaDB(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		"CREATE TABLE t (id int PRIMARY KEY, n bigint)",
		"INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g",
		"UPDATE t SET n = 100000 WHERE id = 4999")
	dst := maria.NewDatabase(t)
	execSQL(t, maria, dst, "CREATE TABLE t (id int PRIMARY KEY, n smallint)", "INSERT INTO t VALUES (0, 0)")
	_, err := Run(context.Background(), tableJob(postgresConn(pg, src), "t", mysqlConn(maria, dst), "t"), Options{Logger: testr.New(t)})
	if ExitCode(err) != ExitDataError {
		t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitDataError)
	}
	if !strings.Contains(err.Error(), "'n'") && !strings.Contains(err.Error(), "`n`") {
		t.Errorf("error does not name column n: %v", err)
	}
	assertRows(t, maria, dst, "SELECT COUNT(*) FROM t", "1")
}

func TestIncrementalBreaksTies(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE ev (day DATE, seq INT, note VARCHAR(10), PRIMARY KEY (day, seq))",
		"INSERT INTO ev VALUES ('2024-01-01', 1, 'a'), ('2024-01-01', 2, 'b'), ('2024-01-02', 1, 'c')")

	job := tableJob(mysqlConn(maria, src), "ev", postgresConn(pg, dst), "ev")
	job.Incremental = true
	first := runJob(t, job)
	if got := string(first.LastRecord["day"]) + " " + string(first.LastRecord["seq"]); got != `"2024-01-02" 1` {
		t.Errorf("lastRecord after the first run = %s", got)
	}

	// New rows tie with the stored position on the first column.
	execSQL(t, maria, src, "INSERT INTO ev VALUES ('2024-01-02', 2, 'd'), ('2024-01-02', 3, 'e'), ('2024-01-03', 0, 'f')")
	job.LastRecord = first.LastRecord
	second := runJob(t, job)
	if second.Rows != 3 {
		t.Errorf("second run moved %d rows, want 3", second.Rows)
	}
	if got := string(second.LastRecord["day"]) + " " + string(second.LastRecord["seq"]); got != `"2024-01-03" 0` {
		t.Errorf("lastRecord after the second run = %s", got)
	}

	job.LastRecord = second.LastRecord
	third := runJob(t, job)
	if third.Rows != 0 {
		t.Errorf("third run moved %d rows, want 0", third.Rows)
	}
	if got, _ := json.Marshal(third.LastRecord); string(got) != `{"day":"2024-01-03","seq":0}` {
		t.Errorf("lastRecord of an empty run = %s, want the stored one", got)
	}
	assertRows(t, pg, dst, "SELECT count(*), count(DISTINCT (day, seq)) FROM ev", "6|6")
}

func TestIncrementalUnsignedKey(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE u (id BIGINT UNSIGNED PRIMARY KEY)",
		"INSERT INTO u VALUES (18446744073709551613), (18446744073709551614), (18446744073709551615)")
	job := tableJob(mysqlConn(maria, src), "u", postgresConn(pg, dst), "u")
	job.Incremental = true
	job.LastRecord = map[string]json.RawMessage{"id": json.RawMessage("18446744073709551614")}
	sum := runJob(t, job)
	if sum.Rows != 1 {
		t.Errorf("moved %d rows, want 1: a comparison through DOUBLE would find 0 or 3", sum.Rows)
	}
}

func TestParallelReadMovesEveryRow(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	for name, srv := range map[string]*testdb.Server{"mariadb": maria, "postgres": pg} {
		t.Run(name, func(t *testing.T) {
			src := srv.NewDatabase(t)
			gen := "INSERT INTO t SELECT g, g * 2 FROM generate_series(-5000, 44999) g"
			if srv.Kind() == testdb.KindMariaDB {
				gen = "INSERT INTO t SELECT seq, seq * 2 FROM seq_0_to_49999"
			}
			execSQL(t, srv, src, "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)", gen)
			dst := pg.NewDatabase(t)
			job := tableJob(connFor(srv, src), "t", postgresConn(pg, dst), "t")
			job.Parallelism = 4
			job.BatchBytes = 64 << 10
			job.Incremental = true
			sum := runJob(t, job)
			if sum.Rows != 50000 {
				t.Errorf("moved %d rows, want 50000", sum.Rows)
			}
			want := "44999"
			if srv.Kind() == testdb.KindMariaDB {
				want = "49999"
			}
			if got := string(sum.LastRecord["id"]); got != want {
				t.Errorf("lastRecord id = %s, want %s", got, want)
			}
			assertRows(t, pg, dst, "SELECT count(*), count(DISTINCT id), sum(v) = 2 * sum(id) FROM t", "50000|50000|t")
		})
	}
}

func TestPostgresBlockRangesMoveEveryRow(t *testing.T) {
	pg := testdb.Postgres(t)
	src, dst := pg.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, pg, src,
		"CREATE TABLE t (id bigint, v text)",
		"INSERT INTO t SELECT g, repeat('x', 50) FROM generate_series(1, 60000) g")
	job := tableJob(postgresConn(pg, src), "t", postgresConn(pg, dst), "t")
	job.Parallelism = 3
	var mu sync.Mutex
	var queries []string
	logger := funcr.New(func(_, args string) {
		if strings.Contains(args, "ctid") {
			mu.Lock()
			queries = append(queries, args)
			mu.Unlock()
		}
	}, funcr.Options{Verbosity: 1})
	sum, err := Run(context.Background(), job, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 60000 {
		t.Errorf("moved %d rows, want 60000", sum.Rows)
	}
	if len(queries) != 3 {
		t.Errorf("%d queries read TID ranges, want 3: %q", len(queries), queries)
	}
	assertRows(t, pg, dst, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t", "60000|60000|1|60000")
}

func TestResumeAfterLostSourceConnection(t *testing.T) {
	maria, maria2 := testdb.MariaDB(t), testdb.SecondMariaDB(t)
	src, dst := maria.NewDatabase(t), maria2.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(200))",
		"INSERT INTO t SELECT seq, REPEAT('x', 200) FROM seq_1_to_200000")

	admin, err := sql.Open("mysql", maria.DSN(src))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var once sync.Once
	killed := make(chan int, 1)
	rep := &funcReporter{progress: func(p Progress) {
		if p.Rows == 0 {
			return
		}
		once.Do(func() {
			var id int
			err := admin.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT %FROM `t`%' AND DB = ? AND ID <> CONNECTION_ID()", src).Scan(&id)
			if err == nil {
				_, err = admin.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
			}
			if err != nil {
				t.Errorf("failed to kill the reading connection: %v", err)
			}
			killed <- id
		})
	}}
	job := tableJob(mysqlConn(maria, src), "t", mysqlConn(maria2, dst), "t")
	job.Parallelism = 1
	job.BatchBytes = 32 << 10
	sum, err := Run(context.Background(), job, Options{Logger: testr.New(t), Reporter: rep, ProgressInterval: time.Millisecond})
	if err != nil {
		t.Fatalf("run failed after the source connection was killed: %v", err)
	}
	select {
	case <-killed:
	default:
		t.Fatal("the test never killed the source connection")
	}
	if sum.Rows != 200000 {
		t.Errorf("moved %d rows, want 200000", sum.Rows)
	}
	assertRows(t, maria2, dst, "SELECT COUNT(*), COUNT(DISTINCT id) FROM t", "200000|200000")
}

type funcReporter struct {
	progress func(Progress)
}

func (f *funcReporter) Progress(p Progress) {
	if f.progress != nil {
		f.progress(p)
	}
}
func (f *funcReporter) Log(LogLine)     {}
func (f *funcReporter) Preview(Preview) {}

func TestCancelLeavesDestinationUnchanged(t *testing.T) {
	pg := testdb.Postgres(t)
	src, dst := pg.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, pg, src, "CREATE TABLE t (id bigint PRIMARY KEY, v text)",
		"INSERT INTO t SELECT g, repeat('y', 100) FROM generate_series(1, 200000) g")
	execSQL(t, pg, dst, "CREATE TABLE t (id bigint PRIMARY KEY, v text)", "INSERT INTO t VALUES (0, 'kept')")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := &funcReporter{progress: func(p Progress) {
		if p.Rows > 0 {
			cancel()
		}
	}}
	job := tableJob(postgresConn(pg, src), "t", postgresConn(pg, dst), "t")
	job.BatchBytes = 16 << 10
	sum, err := Run(ctx, job, Options{Logger: testr.New(t), Reporter: rep, ProgressInterval: time.Millisecond})
	if ExitCode(err) != ExitCancelled {
		t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitCancelled)
	}
	if sum.Status != StatusCancelled {
		t.Errorf("status = %q, want %q", sum.Status, StatusCancelled)
	}
	assertRows(t, pg, dst, "SELECT id, v FROM t", "0|kept")
}

func TestPostgresWhereAndColumns(t *testing.T) {
	pg := testdb.Postgres(t)
	src, dst := pg.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, pg, src, `CREATE TABLE t (id int PRIMARY KEY, "Mixed Case" text, skip text)`,
		`INSERT INTO t VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`)
	job := tableJob(postgresConn(pg, src), "t", postgresConn(pg, dst), "t")
	job.Source.Columns = []string{"id", "Mixed Case"}
	job.Source.Where = "id <> 2"
	runJob(t, job)
	assertRows(t, pg, dst, `SELECT id, "Mixed Case" FROM t ORDER BY id`, "1|a\n3|c")
	assertRows(t, pg, dst, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'", "2")
}

func TestMergeDuplicateKeysLastWins(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		"CREATE TABLE incoming (seq int, k int, v text)",
		"INSERT INTO incoming VALUES (1, 1, 'a'), (2, 2, 'c'), (3, 1, 'b'), (4, 2, 'd'), (5, NULL, 'n1'), (6, NULL, 'n2')")

	dests := map[string]func(t *testing.T, ddl []string) (spec.Connection, func(q string) string){
		"sqlite": func(t *testing.T, ddl []string) (spec.Connection, func(string) string) {
			path := sqliteFile(t, ddl...)
			conn := spec.Connection{Type: spec.TypeSQLite, Path: path}
			return conn, func(q string) string { return joinRows(sqliteRows(t, path, q)) }
		},
	}
	for name, srv := range modeDestinations(t) {
		dests[name] = func(t *testing.T, ddl []string) (spec.Connection, func(string) string) {
			db := srv.NewDatabase(t)
			execSQL(t, srv, db, ddl...)
			return connFor(srv, db), func(q string) string { return joinRows(queryText(t, srv, db, q)) }
		}
	}
	for name, setup := range dests {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				create string
				query  string
				rows   int64
				want   string
			}{
				{"primary key", "CREATE TABLE t (k int PRIMARY KEY, v varchar(10))",
					"SELECT k, v FROM incoming WHERE k IS NOT NULL ORDER BY seq", 4, "1|b\n2|d\n3|keep"},
				{"merge keys", "CREATE TABLE t (k int, v varchar(10))",
					"SELECT k, v FROM incoming ORDER BY seq", 6, "1|b\n2|d\n3|keep\nNULL|n1\nNULL|n2"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					conn, query := setup(t, []string{tc.create, "INSERT INTO t VALUES (1, 'old'), (3, 'keep')"})
					job := spec.Job{
						Source:      spec.Source{Connection: postgresConn(pg, src), Query: tc.query},
						Destination: spec.Destination{Connection: conn, Table: "t", Mode: spec.ModeMerge, MergeKeys: []string{"k"}},
					}
					sum := runJob(t, job)
					if got := query("SELECT k, v FROM t ORDER BY k IS NULL, k, v"); got != tc.want {
						t.Errorf("table:\n%s\nwant:\n%s", got, tc.want)
					}
					// Every row sent counts, including the ones a later row replaced.
					if sum.Rows != tc.rows {
						t.Errorf("summary rows = %d, want %d", sum.Rows, tc.rows)
					}
				})
			}
		})
	}
}

func TestFailedInsertDropsCreatedTable(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		// An interval with months has no exact duration, so the read fails midway.
		"CREATE TABLE months (id int PRIMARY KEY, i interval)",
		"INSERT INTO months SELECT g, CASE WHEN g = 4999 THEN interval '1 month' ELSE interval '1 hour' END FROM generate_series(1, 5000) g")

	for name, srv := range modeDestinations(t) {
		t.Run(name, func(t *testing.T) {
			dst := srv.NewDatabase(t)
			job := tableJob(postgresConn(pg, src), "months", connFor(srv, dst), "created")
			job.Destination.Mode = spec.ModeInsert
			// An incremental run decodes the values even from PostgreSQL to PostgreSQL.
			job.Incremental = true
			if _, err := Run(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitDataError {
				t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitDataError)
			}
			q := "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'created' AND table_schema = "
			if srv.Kind() == testdb.KindPostgres {
				q += "current_schema()"
			} else {
				q += "DATABASE()"
			}
			assertRows(t, srv, dst, q, "0")
		})
	}
}

func TestPostgresReplaceKeepsIndexNames(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src, `CREATE TABLE "Awk" (id int PRIMARY KEY, v text)`, `INSERT INTO "Awk" VALUES (1, 'a')`)
	dst := pg.NewDatabase(t)
	execSQL(t, pg, dst,
		`CREATE TABLE "Awk" (id int PRIMARY KEY, v text UNIQUE)`,
		`CREATE INDEX awk_v_lower ON "Awk" (lower(v))`)
	job := tableJob(postgresConn(pg, src), "Awk", postgresConn(pg, dst), "Awk")
	job.Destination.Mode = spec.ModeReplace
	const q = `SELECT indexname FROM pg_indexes WHERE tablename = 'Awk' ORDER BY indexname`
	before := joinRows(queryText(t, pg, dst, q))

	runJob(t, job)
	assertRows(t, pg, dst, q, before)
	assertRows(t, pg, dst, `SELECT conname FROM pg_constraint WHERE conrelid = '"Awk"'::regclass ORDER BY conname`, "Awk_pkey\nAwk_v_key")
	// A second replace must find the names free again.
	runJob(t, job)
	assertRows(t, pg, dst, q, before)

	// A table the replace creates gets the name PostgreSQL would give it.
	job.Destination.Table = "Fresh"
	runJob(t, job)
	assertRows(t, pg, dst, `SELECT indexname FROM pg_indexes WHERE tablename = 'Fresh'`, "Fresh_pkey")
}
