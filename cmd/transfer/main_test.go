package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/internal/testdb"
	"github.com/ferryhq/ferry/transfer"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-transfer-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "transfer")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("failed to build the transfer binary: " + err.Error())
	}
	code := testdb.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs the transfer binary with TZ set to zone and returns its
// exit code, stdout and stderr.
func runBinary(t *testing.T, zone string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), binary, args...)
	cmd.Env = append(os.Environ(), "TZ="+zone)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunCSVToJSONLines(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "id,name\n1,ä\n2,\"b,c\"\n")
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, "source: {type: csv, path: "+filepath.Join(dir, "in.csv")+"}\n"+
		"destination: {type: jsonl, path: "+filepath.Join(dir, "out.jsonl")+"}\n")
	term := filepath.Join(dir, "termination-log")

	code, stdout, stderr := runBinary(t, "Asia/Tokyo", nil, "run", "-f", job, "-termination-message-path", term)
	if code != 0 {
		t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var sum transfer.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s", err, stdout)
	}
	if sum.Rows != 2 || sum.Status != transfer.StatusSucceeded {
		t.Errorf("summary rows=%d status=%s, want 2 succeeded", sum.Rows, sum.Status)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"id\":\"1\",\"name\":\"ä\"}\n{\"id\":\"2\",\"name\":\"b,c\"}\n"; string(out) != want {
		t.Errorf("output file:\n%s\nwant:\n%s", out, want)
	}
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatalf("termination message not written: %v", err)
	}
	if len(msg) > 4096 || !json.Valid(msg) {
		t.Errorf("termination message is %d bytes or not JSON: %s", len(msg), msg)
	}
}

func TestInvalidJobExitCode(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, "source: {type: csv, path: in.csv, delimter: ';'}\ndestination: {type: jsonl, path: out.jsonl}\n")
	code, stdout, _ := runBinary(t, "UTC", nil, "run", "-f", job, "-termination-message-path", "")
	if code != transfer.ExitInvalidJob {
		t.Errorf("exit code %d, want %d", code, transfer.ExitInvalidJob)
	}
	if !strings.Contains(stdout, "delimter") {
		t.Errorf("summary does not name the unknown key: %s", stdout)
	}
}

func TestPreviewPrintsColumnsAndRows(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	in.WriteString("{\"id\": 1, \"price\": 1.50, \"tags\": [\"a\"]}\n")
	for i := 2; i <= 30; i++ {
		in.WriteString("{\"id\": " + strconv.Itoa(i) + ", \"price\": 2.25, \"tags\": null}\n")
	}
	writeFile(t, filepath.Join(dir, "in.jsonl"), in.String())
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, "source: {type: jsonl, path: "+filepath.Join(dir, "in.jsonl")+"}\npreviewRows: 3\n")

	code, stdout, stderr := runBinary(t, "UTC", nil, "preview", "-f", job, "-termination-message-path", "")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	var sum transfer.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.PreviewRows) != 3 {
		t.Fatalf("preview has %d rows, want 3", len(sum.PreviewRows))
	}
	var kinds []string
	for _, c := range sum.Columns {
		kinds = append(kinds, c.Name+":"+c.TypeName())
	}
	if got := strings.Join(kinds, ","); got != "id:int64,price:decimal,tags:json" {
		t.Errorf("columns = %s", got)
	}
	if got := string(sum.PreviewRows[0][1]); got != `"1.50"` {
		t.Errorf("price = %s, want the exact decimal text", got)
	}
}

func TestWrongPasswordIsConnectionFailure(t *testing.T) {
	pg := testdb.Postgres(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	secret := "wrong-" + pg.Password()
	writeFile(t, job, "source: {type: postgres, host: 127.0.0.1, port: "+strconv.Itoa(pg.Port())+", database: "+db+
		", user: "+pg.User()+", passwordFromEnv: FERRY_TEST_PASSWORD, query: SELECT 1}\n"+
		"destination: {type: jsonl, path: "+filepath.Join(dir, "out.jsonl")+"}\n")

	code, stdout, stderr := runBinary(t, "UTC", []string{"FERRY_TEST_PASSWORD=" + secret}, "run", "-f", job, "-termination-message-path", "")
	if code != transfer.ExitConnection {
		t.Errorf("exit code %d, want %d\n%s", code, transfer.ExitConnection, stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("the password appears in the output:\n%s\n%s", stdout, stderr)
	}
}

func TestCompactSummaryFitsTerminationMessage(t *testing.T) {
	sum := transfer.Summary{Status: transfer.StatusFailed, Error: strings.Repeat("e", 10000)}
	for i := 0; i < 100; i++ {
		sum.Warnings = append(sum.Warnings, strings.Repeat("w", 100))
	}
	data, err := compactSummary(sum)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > maxTerminationMessage {
		t.Errorf("compact summary is %d bytes, want at most %d", len(data), maxTerminationMessage)
	}
	if !json.Valid(data) {
		t.Errorf("compact summary is not JSON: %s", data)
	}
}

func TestTimestampsUnderNewYorkTZ(t *testing.T) {
	maria, pg := testdb.MariaDB(t), testdb.Postgres(t)
	src, dst := maria.NewDatabase(t), pg.NewDatabase(t)
	conn, err := sql.Open("mysql", maria.DSN(src))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{
		"SET time_zone = '+00:00'",
		"CREATE TABLE ts (id INT PRIMARY KEY, dt DATETIME(6), tsp TIMESTAMP(6) NULL)",
		"INSERT INTO ts VALUES (1, '2024-03-10 02:30:00.000001', '2024-03-10 02:30:00.000001')",
	} {
		if _, err := conn.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, "source: {type: mysql, host: 127.0.0.1, port: "+strconv.Itoa(maria.Port())+", database: "+src+
		", user: "+maria.User()+", passwordFromEnv: SRC_PW, table: ts}\n"+
		"destination: {type: postgres, host: 127.0.0.1, port: "+strconv.Itoa(pg.Port())+", database: "+dst+
		", user: "+pg.User()+", passwordFromEnv: DST_PW, table: ts}\n")
	env := []string{"SRC_PW=" + maria.Password(), "DST_PW=" + pg.Password()}
	code, stdout, stderr := runBinary(t, "America/New_York", env, "run", "-f", job, "-termination-message-path", "")
	if code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, stdout, stderr)
	}

	pgConn, err := pgx.Connect(context.Background(), pg.DSN(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer pgConn.Close(context.Background())
	var dt, tsp string
	err = pgConn.QueryRow(context.Background(), "SELECT dt::text, (tsp AT TIME ZONE 'UTC')::text FROM ts").Scan(&dt, &tsp)
	if err != nil {
		t.Fatal(err)
	}
	if dt != "2024-03-10 02:30:00.000001" || tsp != "2024-03-10 02:30:00.000001" {
		t.Errorf("dt = %s, tsp in UTC = %s; want both 2024-03-10 02:30:00.000001", dt, tsp)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "a,b\n1,2\n")
	job := filepath.Join(dir, "job.yaml")
	out := filepath.Join(dir, "out.csv")
	writeFile(t, job, "source: {type: csv, path: "+filepath.Join(dir, "in.csv")+"}\ndestination: {type: csv, path: "+out+"}\n")
	code, stdout, stderr := runBinary(t, "UTC", nil, "check", "-f", job)
	if code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `"name": "b"`) {
		t.Errorf("check output lacks the columns: %s", stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("check created the destination file %s", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("check left files behind: %v", entries)
	}
}

func TestHelpFlagSucceeds(t *testing.T) {
	for _, cmd := range []string{"run", "preview", "check", "pod"} {
		code, _, stderr := runBinary(t, "UTC", nil, cmd, "--help")
		if code != transfer.ExitSuccess {
			t.Errorf("%s --help: exit code %d, want %d", cmd, code, transfer.ExitSuccess)
		}
		if !strings.Contains(stderr, "-termination-message-path") {
			t.Errorf("%s --help does not list the flags:\n%s", cmd, stderr)
		}
	}
	if code, _, _ := runBinary(t, "UTC", nil, "run", "--no-such-flag"); code != transfer.ExitInvalidJob {
		t.Errorf("unknown flag: exit code %d, want %d", code, transfer.ExitInvalidJob)
	}
}

func TestSummaryKeepsSQLReadable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "a<b,a<b\n1,2\n")
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, "source: {type: csv, path: "+filepath.Join(dir, "in.csv")+"}\ndestination: {type: jsonl, path: "+filepath.Join(dir, "out.jsonl")+"}\n")
	for _, cmd := range []string{"run", "check"} {
		code, stdout, _ := runBinary(t, "UTC", nil, cmd, "-f", job, "-termination-message-path", "")
		if code != transfer.ExitInvalidJob {
			t.Errorf("%s: exit code %d, want %d", cmd, code, transfer.ExitInvalidJob)
		}
		if !strings.Contains(stdout, `a<b`) {
			t.Errorf("%s output escapes the column name a<b:\n%s", cmd, stdout)
		}
	}
}
