package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/transfer/spec"
)

func TestZeroDatesBecomeNull(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, maria, src,
		"SET SESSION sql_mode = ''",
		"CREATE TABLE zd (id INT PRIMARY KEY, d DATE NULL, dt DATETIME NOT NULL)",
		"INSERT INTO zd VALUES (1,'0000-00-00','0000-00-00 00:00:00'), (2,'0001-01-01','0001-01-01 00:00:00')")

	sum := runJob(t, tableJob(mysqlConn(maria, src), "zd", postgresConn(pg, dst), "zd"))

	assertRows(t, pg, dst, "SELECT id, d, dt FROM zd ORDER BY id", `
1|NULL|NULL
2|0001-01-01|0001-01-01 00:00:00`)
	if len(sum.Warnings) == 0 {
		t.Fatalf("no warning about the coerced zero dates; summary %+v", sum)
	}
	joined := strings.Join(sum.Warnings, "\n")
	for _, want := range []string{`"d" (1 value)`, `"dt" (1 value)`} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q do not count %s", joined, want)
		}
	}
}

func TestTimeDurationsUnchanged(t *testing.T) {
	maria, maria2, pg := testdb.MariaDB(t), testdb.SecondMariaDB(t), testdb.Postgres(t)
	src := maria.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE tm (id INT PRIMARY KEY, t TIME, t6 TIME(6))",
		"INSERT INTO tm VALUES (1,'25:00:00','-00:00:01.5'), (2,'-838:59:59',NULL), (3,'838:59:59','838:59:59.000001'), (4,'08:30:00','00:00:00')")

	t.Run("postgres interval", func(t *testing.T) {
		dst := pg.NewDatabase(t)
		runJob(t, tableJob(mysqlConn(maria, src), "tm", postgresConn(pg, dst), "tm"))
		assertRows(t, pg, dst, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tm'::regclass AND attname = 't'", "interval")
		assertRows(t, pg, dst, "SELECT id, t, t6 FROM tm ORDER BY id", `
1|25:00:00|-00:00:01.5
2|-838:59:59|NULL
3|838:59:59|838:59:59.000001
4|08:30:00|00:00:00`)
	})

	t.Run("mariadb", func(t *testing.T) {
		dst := maria2.NewDatabase(t)
		runJob(t, tableJob(mysqlConn(maria, src), "tm", mysqlConn(maria2, dst), "tm"))
		assertRows(t, maria2, dst, "SELECT id, t, t6 FROM tm ORDER BY id", `
1|25:00:00|-00:00:01.500000
2|-838:59:59|NULL
3|838:59:59|838:59:59.000001
4|08:30:00|00:00:00.000000`)
	})

	t.Run("csv", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.csv")
		job := tableJob(mysqlConn(maria, src), "tm", spec.Connection{Type: spec.TypeCSV, Path: path}, "")
		job.Source.Columns = []string{"id", "t"}
		runJob(t, job)
		assertFile(t, path, "id,t\n1,25:00:00\n2,-838:59:59\n3,838:59:59\n4,08:30:00\n")
	})

	t.Run("jsonl", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		job := tableJob(mysqlConn(maria, src), "tm", spec.Connection{Type: spec.TypeJSONL, Path: path}, "")
		job.Source.Columns = []string{"id", "t"}
		runJob(t, job)
		assertFile(t, path, `{"id":1,"t":"25:00:00"}
{"id":2,"t":"-838:59:59"}
{"id":3,"t":"838:59:59"}
{"id":4,"t":"08:30:00"}
`)
	})
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", path, data, want)
	}
}

func TestUTF8MB4Strings(t *testing.T) {
	pg, maria := testdb.Postgres(t), testdb.MariaDB(t)
	src, dst := pg.NewDatabase(t), maria.NewDatabase(t)
	execSQL(t, pg, src,
		"CREATE TABLE s (id int PRIMARY KEY, v text)",
		"INSERT INTO s VALUES (1, '都没有啊🤣，ok'), (2, '𝄞 café')")

	runJob(t, tableJob(postgresConn(pg, src), "s", mysqlConn(maria, dst), "s"))
	want := hex.EncodeToString([]byte("都没有啊🤣，ok")) + "\n" + hex.EncodeToString([]byte("𝄞 café"))
	got := joinRows(queryText(t, maria, dst, "SELECT LOWER(HEX(v)) FROM s ORDER BY id"))
	if got != want {
		t.Errorf("stored bytes differ:\ngot  %s\nwant %s", got, want)
	}

	t.Run("utf8mb3 column", func(t *testing.T) {
		execSQL(t, maria, dst, "CREATE TABLE s3 (id int PRIMARY KEY, v varchar(100) CHARACTER SET utf8mb3)")
		_, err := Run(context.Background(), tableJob(postgresConn(pg, src), "s", mysqlConn(maria, dst), "s3"), Options{Logger: testr.New(t)})
		if err == nil {
			t.Fatal("Run succeeded, want an error for 4-byte characters in a utf8mb3 column")
		}
		if ExitCode(err) == 0 {
			t.Errorf("exit code 0 for a failed run")
		}
		if !strings.Contains(err.Error(), "`v`") && !strings.Contains(err.Error(), `"v"`) {
			t.Errorf("error does not name column v: %v", err)
		}
		assertRows(t, maria, dst, "SELECT COUNT(*) FROM s3", "0")
		assertRows(t, maria, dst, "SELECT COUNT(*) FROM s3 WHERE v LIKE '%?%'", "0")
	})

	t.Run("utf8mb3 column with insert fallback", func(t *testing.T) {
		noInfile, err := testdb.StartMariaDBWith(context.Background(), testdb.MariaDBOptions{ExtraArgs: []string{"--local-infile=0"}})
		if err != nil {
			t.Fatal(err)
		}
		defer noInfile.Stop()
		db := noInfile.NewDatabase(t)
		execSQL(t, noInfile, db, "CREATE TABLE s3 (id int PRIMARY KEY, v varchar(100) CHARACTER SET utf8mb3)")
		_, err = Run(context.Background(), tableJob(postgresConn(pg, src), "s", mysqlConn(noInfile, db), "s3"), Options{Logger: testr.New(t)})
		if err == nil || !strings.Contains(err.Error(), "`v`") {
			t.Errorf("want an error naming column v, got %v", err)
		}
		assertRows(t, noInfile, db, "SELECT COUNT(*) FROM s3", "0")

		runJob(t, tableJob(postgresConn(pg, src), "s", mysqlConn(noInfile, db), "s4"))
		got := joinRows(queryText(t, noInfile, db, "SELECT LOWER(HEX(v)) FROM s4 ORDER BY id"))
		if got != want {
			t.Errorf("INSERT fallback stored different bytes:\ngot  %s\nwant %s", got, want)
		}
	})
}

func TestIntegerAndBitTypes(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE b (id INT PRIMARY KEY, ti TINYINT(1), b1 BIT(1), b8 BIT(8), b64 BIT(64), u64 BIGINT UNSIGNED, i64 BIGINT)",
		"INSERT INTO b VALUES (1, 0, b'0', 0, 0, 0, -9223372036854775808), (2, 1, b'1', 255, b'1111111111111111111111111111111111111111111111111111111111111111', 18446744073709551615, 9223372036854775807), (3, 3, NULL, 1, 1, 1, 1), (4, -128, b'1', 128, 2, 2, 2)")

	runJob(t, tableJob(mysqlConn(maria, src), "b", postgresConn(pg, dst), "b"))
	assertRows(t, pg, dst, "SELECT id, ti, b1, b8, b64, u64, i64 FROM b ORDER BY id", `
1|0|f|0|0|0|-9223372036854775808
2|1|t|255|18446744073709551615|18446744073709551615|9223372036854775807
3|3|NULL|1|1|1|1
4|-128|t|128|2|2|2`)
	assertRows(t, pg, dst, `SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = 'b'::regclass AND attnum > 0`,
		"id:integer,ti:smallint,b1:boolean,b8:smallint,b64:numeric(20,0),u64:numeric(20,0),i64:bigint")
}

func TestLargeValues(t *testing.T) {
	maria, maria2, pg := testdb.MariaDB(t), testdb.SecondMariaDB(t), testdb.Postgres(t)
	src := maria.NewDatabase(t)
	blob := make([]byte, 200)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	execSQL(t, maria, src,
		"CREATE TABLE big (id INT PRIMARY KEY, txt LONGTEXT, cyr LONGTEXT, bl LONGBLOB)",
		"INSERT INTO big VALUES (1, REPEAT('a', 20000000), REPEAT('Ж', 4000000), UNHEX('"+hex.EncodeToString(blob)+"'))",
		"INSERT INTO big VALUES (2, '', '', '')")
	wantTxt := md5.Sum([]byte(strings.Repeat("a", 20000000)))
	wantCyr := md5.Sum([]byte(strings.Repeat("Ж", 4000000)))
	wantBlob := md5.Sum(blob)
	want := fmt.Sprintf("1|20000000|%x|4000000|%x|200|%x\n2|0|d41d8cd98f00b204e9800998ecf8427e|0|d41d8cd98f00b204e9800998ecf8427e|0|d41d8cd98f00b204e9800998ecf8427e",
		wantTxt, wantCyr, wantBlob)

	t.Run("postgres", func(t *testing.T) {
		dst := pg.NewDatabase(t)
		runJob(t, tableJob(mysqlConn(maria, src), "big", postgresConn(pg, dst), "big"))
		assertRows(t, pg, dst, "SELECT id, char_length(txt), md5(txt), char_length(cyr), md5(cyr), length(bl), md5(bl) FROM big ORDER BY id", want)
		assertRows(t, pg, dst, "SELECT count(*) FROM big WHERE bl IS NULL", "0")
	})
	t.Run("mariadb", func(t *testing.T) {
		dst := maria2.NewDatabase(t)
		runJob(t, tableJob(mysqlConn(maria, src), "big", mysqlConn(maria2, dst), "big"))
		assertRows(t, maria2, dst, "SELECT id, CHAR_LENGTH(txt), MD5(txt), CHAR_LENGTH(cyr), MD5(cyr), LENGTH(bl), MD5(bl) FROM big ORDER BY id", want)
		assertRows(t, maria2, dst, "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'big' AND COLUMN_NAME IN ('txt', 'cyr')", "longtext\nlongtext")
	})
}

func TestTimestampsKeepWallClock(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src := maria.NewDatabase(t)
	execSQL(t, maria, src,
		"SET time_zone = '+00:00'",
		"CREATE TABLE ts (id INT PRIMARY KEY, d DATE, dt DATETIME(6), tsp TIMESTAMP(6) NULL)",
		"INSERT INTO ts VALUES (1, '2024-03-10', '2024-03-10 02:30:00', '2024-03-10 02:30:00'), (2, '1969-12-31', '2024-11-03 01:30:00.123456', '2024-11-03 01:30:00.123456'), (3, '9999-12-31', '1000-01-01 00:00:00.000001', '2038-01-19 03:14:07.999999')")

	saved := time.Local
	defer func() { time.Local = saved }()
	for _, zone := range []string{"Asia/Tokyo", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			time.Local = loc
			dst := pg.NewDatabase(t)
			runJob(t, tableJob(mysqlConn(maria, src), "ts", postgresConn(pg, dst), "ts"))
			assertRows(t, pg, dst, "SELECT id, d, dt, tsp FROM ts ORDER BY id", `
1|2024-03-10|2024-03-10 02:30:00|2024-03-10 02:30:00+00
2|1969-12-31|2024-11-03 01:30:00.123456|2024-11-03 01:30:00.123456+00
3|9999-12-31|1000-01-01 00:00:00.000001|2038-01-19 03:14:07.999999+00`)
			assertRows(t, pg, dst, `SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum)
				FROM pg_attribute WHERE attrelid = 'ts'::regclass AND attnum > 0`,
				"integer,date,timestamp(6) without time zone,timestamp(6) with time zone")
		})
	}
}

func TestMergeWithoutKeys(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	execSQL(t, pg, db,
		"CREATE TABLE nopk (code text, qty int)",
		"INSERT INTO nopk VALUES ('A',1),('B',2)",
		"CREATE TABLE incoming (code text, qty int)",
		"INSERT INTO incoming VALUES ('B',5),('C',7)")
	job := tableJob(postgresConn(pg, db), "incoming", postgresConn(pg, db), "nopk")
	job.Destination.Mode = spec.ModeMerge

	_, err := Run(context.Background(), job, Options{Logger: testr.New(t)})
	if err == nil {
		t.Fatal("merge without keys succeeded")
	}
	if ExitCode(err) != ExitInvalidJob {
		t.Errorf("exit code %d, want %d: %v", ExitCode(err), ExitInvalidJob, err)
	}
	if !strings.Contains(err.Error(), "mergeKeys") {
		t.Errorf("error does not mention mergeKeys: %v", err)
	}
	assertRows(t, pg, db, "SELECT code, qty FROM nopk ORDER BY code", "A|1\nB|2")

	job.Destination.MergeKeys = []string{"code"}
	runJob(t, job)
	assertRows(t, pg, db, "SELECT code, qty FROM nopk ORDER BY code", "A|1\nB|5\nC|7")
}

func TestMergeIntoMariaDB(t *testing.T) {
	maria := testdb.MariaDB(t)
	db := maria.NewDatabase(t)
	execSQL(t, maria, db,
		"CREATE TABLE nopk (code varchar(10), qty int)",
		"INSERT INTO nopk VALUES ('A',1),('B',2)",
		"CREATE TABLE incoming (code varchar(10), qty int)",
		"INSERT INTO incoming VALUES ('B',5),('C',7)")
	job := tableJob(mysqlConn(maria, db), "incoming", mysqlConn(maria, db), "nopk")
	job.Destination.Mode = spec.ModeMerge
	if _, err := Run(context.Background(), job, Options{Logger: testr.New(t)}); ExitCode(err) != ExitInvalidJob {
		t.Fatalf("merge without keys: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
	}
	assertRows(t, maria, db, "SELECT code, qty FROM nopk ORDER BY code", "A|1\nB|2")

	job.Destination.MergeKeys = []string{"code"}
	runJob(t, job)
	assertRows(t, maria, db, "SELECT code, qty FROM nopk ORDER BY code", "A|1\nB|5\nC|7")
}

func TestFloatsExact(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	execSQL(t, maria, src,
		"CREATE TABLE f (id INT PRIMARY KEY, f FLOAT, d DOUBLE)",
		"INSERT INTO f VALUES (1, 1.2345678, 0.1), (2, 3.4028e38, 1.7976931348623157e308), (3, 1.17549435e-38, 5e-324), (4, -0.0001234567, 123456789.12345679)")
	runJob(t, tableJob(mysqlConn(maria, src), "f", postgresConn(pg, dst), "f"))
	want := []struct {
		f float32
		d float64
	}{
		{1.2345678, 0.1}, {3.4028e38, 1.7976931348623157e308}, {1.17549435e-38, 5e-324}, {-0.0001234567, 123456789.12345679},
	}
	rows := queryText(t, pg, dst, "SELECT f, d FROM f ORDER BY id")
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		f, err := strconv.ParseFloat(rows[i][0], 32)
		if err != nil || float32(f) != w.f {
			t.Errorf("row %d: FLOAT arrived as %s, want %v", i+1, rows[i][0], w.f)
		}
		d, err := strconv.ParseFloat(rows[i][1], 64)
		if err != nil || d != w.d {
			t.Errorf("row %d: DOUBLE arrived as %s, want %v", i+1, rows[i][1], w.d)
		}
	}
}

func TestInvalidWhereIsInvalidJob(t *testing.T) {
	sources := map[string]spec.Connection{
		"sqlite": {Type: spec.TypeSQLite, Path: sqliteFile(t, "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)")},
	}
	for name, srv := range modeDestinations(t) {
		db := srv.NewDatabase(t)
		execSQL(t, srv, db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
		sources[name] = connFor(srv, db)
	}
	for name, conn := range sources {
		t.Run(name, func(t *testing.T) {
			job := spec.Job{
				Source: spec.Source{Connection: conn, Table: "t", Where: "id >>> 3"},
				Destination: spec.Destination{Connection: spec.Connection{Type: spec.TypeCSV,
					Path: filepath.Join(t.TempDir(), "out.csv")}},
			}
			_, err := Check(context.Background(), job, Options{Logger: testr.New(t)})
			if ExitCode(err) != ExitInvalidJob {
				t.Errorf("check: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
			}
			_, err = Run(context.Background(), job, Options{Logger: testr.New(t)})
			if ExitCode(err) != ExitInvalidJob {
				t.Errorf("run: exit code %d (%v), want %d", ExitCode(err), err, ExitInvalidJob)
			}
			if err != nil && !strings.Contains(err.Error(), "source.where") {
				t.Errorf("error does not name source.where: %v", err)
			}

			job.Source.Where = "id >= 1"
			if sum := runJob(t, job); sum.Rows != 1 {
				t.Errorf("valid where: rows = %d, want 1", sum.Rows)
			}
		})
	}
}

func TestMergeIntoMariaDBAutoIncrement(t *testing.T) {
	maria := testdb.MariaDB(t)
	db := maria.NewDatabase(t)
	execSQL(t, maria, db,
		"CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE, qty INT)",
		"INSERT INTO items (code, qty) VALUES ('A', 1), ('B', 2)",
		"CREATE TABLE incoming (seq INT, code VARCHAR(10), qty INT)",
		"INSERT INTO incoming VALUES (1, 'B', 5), (2, 'C', 7), (3, 'B', 6), (4, 'C', 8)")
	job := spec.Job{
		Source: spec.Source{Connection: mysqlConn(maria, db), Query: "SELECT code, qty FROM incoming ORDER BY seq"},
		Destination: spec.Destination{Connection: mysqlConn(maria, db), Table: "items",
			Mode: spec.ModeMerge, MergeKeys: []string{"code"}},
	}
	runJob(t, job)
	assertRows(t, maria, db, "SELECT id, code, qty FROM items ORDER BY id", "1|A|1\n2|B|6\n3|C|8")
}
