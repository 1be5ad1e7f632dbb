package transfer

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/parquet-go/parquet-go"

	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/transfer/spec"
)

func TestGzipCSVToSQLiteAndBack(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("id,Name\n1,\"multi\nline\"\n2,𝄞\n3,\n"))
	zw.Close()
	if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "out.db")
	job := spec.Job{
		Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeCSV, Path: in}},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeSQLite, Path: db}, Table: "People"},
	}
	job.ApplyDefaults()
	if job.Source.Compression != spec.CompressionGzip {
		t.Fatalf("compression = %q, want gzip from the .gz suffix", job.Source.Compression)
	}
	if sum := runJob(t, job); sum.Rows != 3 {
		t.Errorf("rows = %d, want 3", sum.Rows)
	}

	out := filepath.Join(dir, "back.jsonl.gz")
	back := spec.Job{
		Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeSQLite, Path: db}, Query: `SELECT * FROM "People" ORDER BY id`},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeJSONL, Path: out}},
	}
	runJob(t, back)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(zr)
	want := `{"id":"1","Name":"multi\nline"}
{"id":"2","Name":"𝄞"}
{"id":"3","Name":""}
`
	if got.String() != want {
		t.Errorf("round trip:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestPostgresTypesToSQLite(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		`CREATE TABLE t (id bigint PRIMARY KEY, amount numeric(30,10), ok boolean, raw bytea, doc jsonb, at timestamptz, f real)`,
		`INSERT INTO t VALUES (1, 12345678901234567890.0123456789, true, '\x00ff'::bytea, '{"b": 1, "a": [1,2]}', '2024-03-10 02:30:00.5+09', 0.1),
			(2, NULL, false, ''::bytea, NULL, NULL, 'NaN')`)
	dir := t.TempDir()
	db := filepath.Join(dir, "out.db")
	runJob(t, tableJob(postgresConn(pg, src), "t", spec.Connection{Type: spec.TypeSQLite, Path: db}, "t"))

	job := spec.Job{
		Source: spec.Source{Connection: spec.Connection{Type: spec.TypeSQLite, Path: db},
			Query: "SELECT id, amount, ok, hex(raw) AS raw, typeof(raw) AS rawType, doc, at, f FROM t ORDER BY id"},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV, Path: filepath.Join(dir, "out.csv")}},
	}
	runJob(t, job)
	data, _ := os.ReadFile(filepath.Join(dir, "out.csv"))
	want := `id,amount,ok,raw,rawType,doc,at,f
1,12345678901234567890.0123456789,true,00FF,blob,"{""a"": [1, 2], ""b"": 1}",2024-03-09 17:30:00.5,0.10000000149011612
2,,false,,blob,,,NaN
`
	if string(data) != want {
		t.Errorf("SQLite contents:\n%s\nwant:\n%s", data, want)
	}
}

func TestParquetDestination(t *testing.T) {
	pg := testdb.Postgres(t)
	src := pg.NewDatabase(t)
	execSQL(t, pg, src,
		`CREATE TABLE t (id int PRIMARY KEY, price numeric(10,2), name text, day date, at timestamp(6))`,
		`INSERT INTO t VALUES (1, -12.34, 'a', '2024-02-29', '2024-03-10 02:30:00.000001'), (2, NULL, NULL, NULL, NULL)`)
	path := filepath.Join(t.TempDir(), "out.parquet")
	runJob(t, tableJob(postgresConn(pg, src), "t", spec.Connection{Type: spec.TypeParquet, Path: path}, ""))

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 2 {
		t.Errorf("parquet file has %d rows, want 2", pf.NumRows())
	}
	schema := pf.Schema().String()
	for _, want := range []string{"DECIMAL(10,2)", "DATE", "TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)"} {
		if !strings.Contains(schema, want) {
			t.Errorf("parquet schema lacks %s:\n%s", want, schema)
		}
	}
	rows := make([]parquet.Row, 2)
	reader := parquet.NewReader(f)
	defer reader.Close()
	n, _ := reader.ReadRows(rows)
	if n != 2 {
		t.Fatalf("read %d rows, want 2", n)
	}
	var day, at int64
	for _, v := range rows[0] {
		switch pf.Schema().Columns()[v.Column()][0] {
		case "day":
			day = v.Int64()
		case "at":
			at = v.Int64()
		}
	}
	if day != 19782 {
		t.Errorf("day = %d days since 1970, want 19782 (2024-02-29)", day)
	}
	if at != 1710037800000001 {
		t.Errorf("at = %d µs, want 1710037800000001", at)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	pg := testdb.Postgres(t)
	const secret = "s3cr3t-Pa55word-that-is-wrong"
	job := spec.Job{
		Source: spec.Source{Connection: spec.Connection{Type: spec.TypePostgres, Host: pg.Host(), Port: pg.Port(),
			Database: "postgres", User: pg.User(), Password: secret}, Query: "SELECT 1"},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeMySQL, Host: "127.0.0.1", Port: 1,
			Database: "x", User: "u", Password: secret}, Table: "t"},
	}
	sum, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
	if ExitCode(err) != ExitConnection {
		t.Errorf("exit code %d (%v), want %d", ExitCode(err), err, ExitConnection)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(sum.Error, secret) {
		t.Errorf("the password appears in the error: %v", err)
	}
}

func TestCheckWritesNothing(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	execSQL(t, pg, db, "CREATE TABLE s (id int PRIMARY KEY)")
	job := tableJob(postgresConn(pg, db), "s", postgresConn(pg, db), "created_by_check")
	job.Destination.Mode = spec.ModeReplace
	schema, err := Check(context.Background(), job, Options{Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(schema.Columns) != 1 {
		t.Errorf("schema has %d columns, want 1", len(schema.Columns))
	}
	assertRows(t, pg, db, "SELECT count(*) FROM pg_class WHERE relname LIKE 'created_by_check%'", "0")

	job.Source.Table = "missing"
	if _, err := Check(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitInvalidJob {
		t.Errorf("check of a missing table: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
	}
}

func TestPreviewOfMariaDBTable(t *testing.T) {
	maria := testdb.MariaDB(t)
	db := maria.NewDatabase(t)
	execSQL(t, maria, db,
		"SET SESSION sql_mode = ''",
		"CREATE TABLE p (id INT PRIMARY KEY, amount DECIMAL(20,4), d DATE, b BIT(1))",
		"INSERT INTO p SELECT seq, seq / 3, IF(seq = 2, '0000-00-00', '2024-01-01'), seq % 2 FROM seq_1_to_100")
	job := spec.Job{Type: spec.JobPreview, PreviewRows: 3,
		Source: spec.Source{Connection: mysqlConn(maria, db), Table: "p"}}
	var got Preview
	rep := &previewReporter{got: &got}
	sum, err := Run(context.Background(), job, Options{Logger: testr.New(t), Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 3 || len(got.Rows) != 3 {
		t.Fatalf("preview has %d rows (reported %d), want 3", sum.Rows, len(got.Rows))
	}
	var types []string
	for _, c := range got.Columns {
		types = append(types, c.Name+":"+c.TypeName())
	}
	if strings.Join(types, ",") != "id:int32,amount:decimal(20,4),d:date,b:bool" {
		t.Errorf("columns = %v", types)
	}
	row := fmt.Sprintf("%s %s %s %s", got.Rows[1][0], got.Rows[1][1], got.Rows[1][2], got.Rows[1][3])
	if row != `2 "0.6667" null false` {
		t.Errorf("second row = %s", row)
	}
}

type previewReporter struct {
	got *Preview
}

func (p *previewReporter) Progress(Progress) {}
func (p *previewReporter) Log(LogLine)       {}
func (p *previewReporter) Preview(pv Preview) {
	*p.got = pv
}

func TestCSVHeaderNamesEveryColumnOnce(t *testing.T) {
	for _, tc := range []struct {
		name, header, errorHas string
	}{
		{"duplicate", "id,v,id", `"id"`},
		{"empty", "id,,v", "column 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			if err := os.WriteFile(in, []byte(tc.header+"\n1,2,3\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			job := spec.Job{
				Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeCSV, Path: in}},
				Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeSQLite, Path: filepath.Join(dir, "out.db")}, Table: "t"},
			}
			_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
			if ExitCode(err) != ExitInvalidJob {
				t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
			}
			if !strings.Contains(err.Error(), "header") || !strings.Contains(err.Error(), tc.errorHas) {
				t.Errorf("error does not name the header and %s: %v", tc.errorHas, err)
			}
		})
	}
}

func TestInfiniteInstantsInFiles(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	execSQL(t, pg, db,
		"CREATE TABLE ts (id int PRIMARY KEY, at timestamptz)",
		"INSERT INTO ts VALUES (1, '2024-01-02 03:04:05+00'), (2, 'infinity'), (3, '-infinity')")
	dir := t.TempDir()
	for _, tc := range []struct {
		typ  spec.EndpointType
		want string
	}{
		{spec.TypeCSV, "id,at\n1,2024-01-02 03:04:05+00:00\n2,infinity\n3,-infinity\n"},
		{spec.TypeJSONL, `{"id":1,"at":"2024-01-02 03:04:05+00:00"}` + "\n" + `{"id":2,"at":"infinity"}` + "\n" + `{"id":3,"at":"-infinity"}` + "\n"},
	} {
		out := filepath.Join(dir, "out."+string(tc.typ))
		job := spec.Job{
			Source:      spec.Source{Connection: postgresConn(pg, db), Query: "SELECT id, at FROM ts ORDER BY id"},
			Destination: spec.Destination{Connection: spec.Connection{Type: tc.typ, Path: out}},
		}
		runJob(t, job)
		assertFile(t, out, tc.want)
	}
}

func TestJSONLinesKindChangeAfterSample(t *testing.T) {
	for _, tc := range []struct {
		name, late, valueHas string
	}{
		{"string for int", `{"v": "oops"}`, `"oops"`},
		{"object for int", `{"v": {"a": 1}}`, `{"a": 1}`},
		{"too large for int", `{"v": 123456789012345678901234567890}`, "123456789012345678901234567890"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.jsonl")
			lines := strings.Repeat("{\"v\": 1}\n", 1000) + tc.late + "\n"
			if err := os.WriteFile(in, []byte(lines), 0o600); err != nil {
				t.Fatal(err)
			}
			job := spec.Job{
				Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeJSONL, Path: in}},
				Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV, Path: filepath.Join(dir, "out.csv")}},
			}
			_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
			if ExitCode(err) != ExitDataError {
				t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitDataError)
			}
			msg := err.Error()
			for _, want := range []string{"line 1001", `"v"`, tc.valueHas, "first 1000 lines"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not contain %s: %v", want, msg)
				}
			}
			if strings.Contains(msg, "strconv") {
				t.Errorf("error shows Go internals: %v", msg)
			}
		})
	}
}

func TestParquetStoresLargeValueOnce(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	large := "start-" + strings.Repeat("abcdefghij", 500000)
	if err := os.WriteFile(in, []byte("id,txt\n1,"+large+"\n2,short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	runJob(t, spec.Job{
		Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeCSV, Path: in}},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeParquet, Path: out}},
	})

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("start-abcdefghij")); n != 1 {
		t.Errorf("the large value appears %d times in the file, want once", n)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]parquet.Row, 2)
	reader := parquet.NewReader(pf)
	defer reader.Close()
	if n, _ := reader.ReadRows(rows); n != 2 {
		t.Fatalf("read %d rows, want 2", n)
	}
	txt, _ := pf.Schema().Lookup("txt")
	if got := rows[0][txt.ColumnIndex].String(); got != large {
		t.Errorf("large value read back with %d bytes, want %d", len(got), len(large))
	}
}

func TestFileOutputFollowsUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("id\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []spec.EndpointType{spec.TypeCSV, spec.TypeJSONL, spec.TypeParquet} {
		out := filepath.Join(dir, "out."+string(typ))
		runJob(t, spec.Job{
			Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeCSV, Path: in}},
			Destination: spec.Destination{Connection: spec.Connection{Type: typ, Path: out}},
		})
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if mode := st.Mode().Perm(); mode != 0o644 {
			t.Errorf("%s output has mode %o, want 644 under umask 022", typ, mode)
		}
	}
}

// logReporter keeps the log lines of a run.
type logReporter struct {
	lines []LogLine
}

func (l *logReporter) Progress(Progress)  {}
func (l *logReporter) Log(line LogLine)   { l.lines = append(l.lines, line) }
func (l *logReporter) Preview(pv Preview) {}

func TestWarningsLoggedAsWarnings(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	lines := strings.Repeat("{\"v\": 1}\n", 1000) + "{\"v\": 2, \"late\": 3}\n"
	if err := os.WriteFile(in, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	job := spec.Job{
		Source:      spec.Source{Connection: spec.Connection{Type: spec.TypeJSONL, Path: in}},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV, Path: filepath.Join(dir, "out.csv")}},
	}
	rep := &logReporter{}
	sum, err := Run(context.Background(), job, Options{Logger: testr.New(t), Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Warnings) != 1 || !strings.HasSuffix(sum.Warnings[0], "(1 value)") {
		t.Errorf("summary warnings = %q, want one ending in \"(1 value)\"", sum.Warnings)
	}
	var levels []string
	for _, l := range rep.lines {
		if strings.Contains(fmt.Sprint(l.KeysAndValues), "late") {
			levels = append(levels, l.Level)
		}
	}
	if len(levels) != 1 || levels[0] != "warn" {
		t.Errorf("levels of the warning's log lines = %q, want one \"warn\"", levels)
	}
}

func TestIntervalWithMonthsAsText(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	execSQL(t, pg, db,
		"CREATE TABLE iv (id int PRIMARY KEY, i interval)",
		"INSERT INTO iv VALUES (1, '1 year 2 mons 3 days 04:05:06'), (2, '-1 mons'), (3, '2 days 01:00:00')")
	dir := t.TempDir()
	for _, tc := range []struct {
		typ  spec.EndpointType
		want string
	}{
		{spec.TypeCSV, "id,i\n1,1 year 2 mons 3 days 04:05:06\n2,-1 mons\n3,49:00:00\n"},
		{spec.TypeJSONL, `{"id":1,"i":"1 year 2 mons 3 days 04:05:06"}` + "\n" + `{"id":2,"i":"-1 mons"}` + "\n" + `{"id":3,"i":"49:00:00"}` + "\n"},
	} {
		out := filepath.Join(dir, "out."+string(tc.typ))
		runJob(t, spec.Job{
			Source:      spec.Source{Connection: postgresConn(pg, db), Query: "SELECT id, i FROM iv ORDER BY id"},
			Destination: spec.Destination{Connection: spec.Connection{Type: tc.typ, Path: out}},
		})
		assertFile(t, out, tc.want)
	}

	// A database destination needs an exact duration, so months stay a data error.
	maria := testdb.MariaDB(t)
	job := spec.Job{
		Source:      spec.Source{Connection: postgresConn(pg, db), Table: "iv"},
		Destination: spec.Destination{Connection: mysqlConn(maria, maria.NewDatabase(t)), Table: "iv"},
	}
	if _, err := Run(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitDataError {
		t.Errorf("MariaDB destination: exit code %d (%v), want %d", ExitCode(err), err, ExitDataError)
	}
}

func TestCSVNullStringRoundTrip(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	execSQL(t, pg, db,
		"CREATE TABLE src (id int PRIMARY KEY, n int, d date, s text)",
		`INSERT INTO src VALUES (1, 5, '2024-01-02', 'x'), (2, NULL, NULL, NULL), (3, 7, '2024-03-04', '')`,
		"CREATE TABLE dst (id int PRIMARY KEY, n int, d date, s text)")
	for _, null := range []string{"", `\N`} {
		t.Run(fmt.Sprintf("%q", null), func(t *testing.T) {
			execSQL(t, pg, db, "TRUNCATE dst")
			path := filepath.Join(t.TempDir(), "out.csv")
			file := spec.Connection{Type: spec.TypeCSV, Path: path, NullString: &null}
			runJob(t, spec.Job{
				Source:      spec.Source{Connection: postgresConn(pg, db), Query: "SELECT * FROM src ORDER BY id"},
				Destination: spec.Destination{Connection: file},
			})
			runJob(t, spec.Job{
				Source:      spec.Source{Connection: file},
				Destination: spec.Destination{Connection: postgresConn(pg, db), Table: "dst"},
			})
			want := "1|5|2024-01-02|x\n2|NULL|NULL|NULL\n3|7|2024-03-04|"
			if null == "" {
				// With the empty field as NULL, an empty string cannot survive.
				want = "1|5|2024-01-02|x\n2|NULL|NULL|NULL\n3|7|2024-03-04|NULL"
			}
			assertRows(t, pg, db, "SELECT id, n, d, s FROM dst ORDER BY id", want)
		})
	}

	job := spec.Job{
		Source:      spec.Source{Connection: postgresConn(pg, db), Table: "src"},
		Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeJSONL, Path: "out.jsonl", NullString: new(string)}},
	}
	if _, err := Run(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitInvalidJob || !strings.Contains(err.Error(), "nullString") {
		t.Errorf("nullString on a jsonl destination: exit code %d (%v), want %d naming nullString", ExitCode(err), err, ExitInvalidJob)
	}
}
