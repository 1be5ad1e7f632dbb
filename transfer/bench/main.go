// Command bench measures the transfer engine against the databases' own
// dump-and-load pipes on throwaway local servers.
//
// For each row count it generates a table of mixed types (about 120 bytes
// a row as text) in MariaDB and PostgreSQL, then times, one after another:
// mysqldump | mysql against Ferry MariaDB→MariaDB, psql COPY TO | psql COPY
// FROM against Ferry PostgreSQL→PostgreSQL, and Ferry MariaDB→PostgreSQL.
// Ferry runs as a child process so its peak RSS comes from rusage. The
// result is a Markdown table on stdout. Each pipeline runs -repeat times,
// alternating with the others, and its best time counts.
//
//	go run ./transfer/bench -rows 100000,1000000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/internal/testdb"
)

func main() {
	rowsFlag := flag.String("rows", "100000", "comma-separated row counts to measure")
	parallelism := flag.Int("parallelism", 0, "the jobs' parallelism; 0 lets Ferry choose")
	repeat := flag.Int("repeat", 3, "runs of each pipeline; the best time counts")
	flag.Parse()
	if err := run(*rowsFlag, *parallelism, max(*repeat, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	rows    int
	name    string
	seconds float64
	rssKiB  int64
	// baseline is the native pipe this run is compared with, if any.
	baseline string
}

func run(rowsFlag string, parallelism, repeat int) error {
	var counts []int
	for _, s := range strings.Split(rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid -rows value %q; give positive integers separated by commas", s)
		}
		counts = append(counts, n)
	}
	ctx := context.Background()

	work, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	binary := filepath.Join(work, "transfer")
	build := exec.Command("go", "build", "-o", binary, "./cmd/transfer")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("failed to build cmd/transfer (run from the repository root): %w", err)
	}

	fmt.Fprintln(os.Stderr, "Starting MariaDB and PostgreSQL")
	maria, err := testdb.StartMariaDB(ctx)
	if err != nil {
		return err
	}
	defer maria.Stop()
	pg, err := testdb.StartPostgres(ctx)
	if err != nil {
		return err
	}
	defer pg.Stop()

	b := &bench{maria: maria, pg: pg, binary: binary, work: work, parallelism: parallelism, repeat: repeat}
	var results []result
	for _, n := range counts {
		rs, err := b.measure(ctx, n)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	printTable(results)
	return nil
}

type bench struct {
	maria, pg   *testdb.Server
	binary      string
	work        string
	parallelism int
	repeat      int
}

func (b *bench) measure(ctx context.Context, n int) ([]result, error) {
	mSrc, _, err := b.maria.CreateDatabase(ctx, fmt.Sprintf("src_%d", n))
	if err != nil {
		return nil, err
	}
	pSrc, _, err := b.pg.CreateDatabase(ctx, fmt.Sprintf("src_%d", n))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "Generating %d rows\n", n)
	if err := b.mysql(mSrc, mariaTable+fmt.Sprintf(mariaGenerate, n)); err != nil {
		return nil, err
	}
	if err := b.psql(pSrc, "-c", postgresTable, "-c", fmt.Sprintf(postgresGenerate, n), "-c", "VACUUM ANALYZE bench"); err != nil {
		return nil, err
	}

	type best struct {
		seconds float64
		rssKiB  int64
	}
	bests := map[string]*best{}
	add := func(name string, f func(dstM, dstP string) (float64, int64, error)) error {
		dstM, _, err := b.maria.CreateDatabase(ctx, "dst")
		if err != nil {
			return err
		}
		dstP, _, err := b.pg.CreateDatabase(ctx, "dst")
		if err != nil {
			return err
		}
		// A checkpoint first, so that no run pays for flushing the pages the
		// previous run dirtied.
		if err := b.psql("postgres", "-c", "CHECKPOINT"); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Running %s, %d rows\n", name, n)
		secs, rss, err := f(dstM, dstP)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if bt, ok := bests[name]; !ok || secs < bt.seconds {
			bests[name] = &best{seconds: secs}
		}
		bests[name].rssKiB = max(bests[name].rssKiB, rss)
		return nil
	}

	steps := []struct {
		name, baseline string
		f              func(dstM, dstP string) (float64, int64, error)
	}{
		{"mysqldump | mysql", "", func(dstM, _ string) (float64, int64, error) {
			cmd := fmt.Sprintf("mysqldump --no-defaults -h %s -P %d -u %s --single-transaction --skip-lock-tables %s bench | mysql --no-defaults -h %s -P %d -u %s %s",
				b.maria.Host(), b.maria.Port(), b.maria.User(), mSrc, b.maria.Host(), b.maria.Port(), b.maria.User(), dstM)
			return b.shell(cmd, "MYSQL_PWD="+b.maria.Password())
		}},
		{"Ferry MariaDB → MariaDB", "mysqldump | mysql", func(dstM, _ string) (float64, int64, error) {
			return b.ferry("mysql", b.maria, mSrc, "mysql", b.maria, dstM)
		}},
		{"psql COPY | psql COPY", "", func(_, dstP string) (float64, int64, error) {
			if err := b.psql(dstP, "-c", postgresTable); err != nil {
				return 0, 0, err
			}
			cmd := fmt.Sprintf(`psql -X -q -h %[1]s -p %[2]d -U %[3]s -d %[4]s -c "COPY bench TO STDOUT" | psql -X -q -h %[1]s -p %[2]d -U %[3]s -d %[5]s -c "COPY bench FROM STDIN"`,
				b.pg.Host(), b.pg.Port(), b.pg.User(), pSrc, dstP)
			return b.shell(cmd, "PGPASSWORD="+b.pg.Password())
		}},
		{"Ferry PostgreSQL → PostgreSQL", "psql COPY | psql COPY", func(_, dstP string) (float64, int64, error) {
			return b.ferry("postgres", b.pg, pSrc, "postgres", b.pg, dstP)
		}},
		{"Ferry MariaDB → PostgreSQL", "", func(_, dstP string) (float64, int64, error) {
			return b.ferry("mysql", b.maria, mSrc, "postgres", b.pg, dstP)
		}},
	}
	// Runs alternate between the pipelines, and each keeps its best time,
	// so that load from other processes hits every pipeline alike.
	for i := 0; i < b.repeat; i++ {
		for _, s := range steps {
			if err := add(s.name, s.f); err != nil {
				return nil, err
			}
		}
	}
	var out []result
	for _, s := range steps {
		bt := bests[s.name]
		out = append(out, result{rows: n, name: s.name, seconds: bt.seconds, rssKiB: bt.rssKiB, baseline: s.baseline})
	}
	return out, nil
}

// Both tables hold the same columns: about 120 bytes a row in text form.
const (
	mariaTable = `CREATE TABLE bench (id BIGINT PRIMARY KEY, qty INT NOT NULL, price DECIMAL(12,2) NOT NULL,
		ratio DOUBLE, active BOOLEAN NOT NULL, code CHAR(8) NOT NULL, note VARCHAR(64), created DATETIME(6) NOT NULL, day DATE);`
	mariaGenerate = `INSERT INTO bench SELECT seq, seq %% 100000, (seq %% 1000000) / 100, seq / 7, seq %% 2,
		LPAD(HEX(seq), 8, '0'), CONCAT('note ', MD5(seq)), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL (seq %% 1000000) MICROSECOND,
		DATE('2024-01-01') + INTERVAL (seq %% 3650) DAY FROM seq_1_to_%d`
	postgresTable = `CREATE TABLE bench (id bigint PRIMARY KEY, qty int NOT NULL, price numeric(12,2) NOT NULL,
		ratio double precision, active boolean NOT NULL, code char(8) NOT NULL, note varchar(64), created timestamp(6) NOT NULL, day date)`
	postgresGenerate = `INSERT INTO bench SELECT g, g %% 100000, (g %% 1000000) / 100.0, g / 7.0, g %% 2 = 1,
		lpad(to_hex(g), 8, '0'), 'note ' || md5(g::text), timestamp '2024-01-01' + g * interval '1 second' + (g %% 1000000) * interval '1 microsecond',
		date '2024-01-01' + (g %% 3650) FROM generate_series(1, %d) g`
)

// ferry runs the transfer binary on the bench table from src to dst and
// returns its wall time and peak RSS in KiB.
func (b *bench) ferry(srcType string, src *testdb.Server, srcDB, dstType string, dst *testdb.Server, dstDB string) (float64, int64, error) {
	job := fmt.Sprintf(`source: {type: %s, host: %s, port: %d, database: %s, user: %s, passwordFromEnv: SRC_PASSWORD, table: bench}
destination: {type: %s, host: %s, port: %d, database: %s, user: %s, passwordFromEnv: DST_PASSWORD, table: bench}
parallelism: %d
`, srcType, src.Host(), src.Port(), srcDB, src.User(), dstType, dst.Host(), dst.Port(), dstDB, dst.User(), b.parallelism)
	path := filepath.Join(b.work, "job.yaml")
	if err := os.WriteFile(path, []byte(job), 0o600); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(b.binary, "run", "-f", path, "-termination-message-path", "")
	cmd.Env = append(os.Environ(), "SRC_PASSWORD="+src.Password(), "DST_PASSWORD="+dst.Password())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s", err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		fmt.Fprintf(os.Stderr, "  Ferry used %.2f s of CPU\n", cpu.Seconds())
	}
	return secs, maxRSS(cmd), nil
}

func (b *bench) shell(script, env string) (float64, int64, error) {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return secs, 0, nil
}

func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // KiB on Linux
	}
	return 0
}

func (b *bench) mysql(db, script string) error {
	cmd := exec.Command("mysql", "--no-defaults", "-h", b.maria.Host(), "-P", strconv.Itoa(b.maria.Port()), "-u", b.maria.User(), db)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+b.maria.Password())
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mysql: %w: %s", err, out)
	}
	return nil
}

func (b *bench) psql(db string, args ...string) error {
	full := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", b.pg.Host(), "-p", strconv.Itoa(b.pg.Port()), "-U", b.pg.User(), "-d", db}, args...)
	cmd := exec.Command("psql", full...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+b.pg.Password())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %w: %s", err, out)
	}
	return nil
}

func printTable(results []result) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("Measured %s on %s/%s with %d CPUs, best of the runs; load average at the end: %s\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Println("| rows | pipeline | seconds | rows/s | vs native pipe | Ferry peak RSS |")
	fmt.Println("| ---: | --- | ---: | ---: | ---: | ---: |")
	byName := map[string]result{}
	for _, r := range results {
		byName[fmt.Sprintf("%d/%s", r.rows, r.name)] = r
	}
	for _, r := range results {
		ratio, rss := "", ""
		if base, ok := byName[fmt.Sprintf("%d/%s", r.rows, r.baseline)]; ok && r.baseline != "" {
			ratio = fmt.Sprintf("%.2f×", base.seconds/r.seconds)
		}
		if r.rssKiB > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.rssKiB)/1024)
		}
		fmt.Printf("| %d | %s | %.2f | %.0f | %s | %s |\n", r.rows, strings.ReplaceAll(r.name, "|", "\\|"), r.seconds, float64(r.rows)/r.seconds, ratio, rss)
	}
}
