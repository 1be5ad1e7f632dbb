// Command demodata prepares the source and destination databases of `make demo`.
//
//	demodata sqlite -dir .demo/data -sql config/samples/demo/orders.sqlite.sql
//	demodata mariadb -env .demo/mariadb.env -sql config/samples/demo/orders.mariadb.sql
//
// The sqlite command creates DIR/source.db from the SQL file, removes an old
// DIR/destination.db and gives both the directory and the files to the job
// pods' user, so that a pod mounting DIR can write the destination and its
// journal. It exits when done.
//
// The mariadb command starts two MariaDB servers on 127.0.0.1 with
// internal/testdb, loads the SQL file into database "shop" of the first and
// creates an empty database "warehouse" on the second. It writes their
// addresses and credentials to the env file (mode 0600) and then runs until
// SIGTERM or SIGINT, when it stops both servers and removes their data.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"github.com/ferryhq/ferry/internal/testdb"
)

// jobUserID is the user and group ID that job pods run as (the image's non-root user).
const jobUserID = 65532

const usage = `Usage:
  demodata sqlite -dir DIR -sql FILE     create DIR/source.db from FILE and exit
  demodata mariadb -env FILE -sql FILE   start two MariaDB servers, load FILE into the
                                         first, write their settings to the env file and
                                         run until SIGTERM
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demodata:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("missing command: sqlite or mariadb")
	}
	switch args[0] {
	case "sqlite":
		fs := flag.NewFlagSet("sqlite", flag.ContinueOnError)
		dir := fs.String("dir", "", "directory for source.db and destination.db (required)")
		sqlFile := fs.String("sql", "", "SQL file that creates and fills the source table (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" || *sqlFile == "" {
			return errors.New("sqlite needs -dir and -sql")
		}
		return prepareSQLite(*dir, *sqlFile)
	case "mariadb":
		fs := flag.NewFlagSet("mariadb", flag.ContinueOnError)
		envFile := fs.String("env", "", "file to write the servers' settings to, as shell variables (required)")
		sqlFile := fs.String("sql", "", "SQL file that creates and fills the source table (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *envFile == "" || *sqlFile == "" {
			return errors.New("mariadb needs -env and -sql")
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return serveMariaDB(ctx, *envFile, *sqlFile)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q; use sqlite or mariadb", args[0])
	}
}

// prepareSQLite creates dir/source.db from sqlFile and hands dir to the job user.
func prepareSQLite(dir, sqlFile string) error {
	script, err := os.ReadFile(sqlFile)
	if err != nil {
		return fmt.Errorf("failed to read the SQL file: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	source := filepath.Join(dir, "source.db")
	for _, name := range []string{"source.db", "source.db-journal", "destination.db", "destination.db-journal"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("failed to remove the old %s: %w", name, err)
		}
	}

	db, err := sql.Open("sqlite", source)
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", source, err)
	}
	defer db.Close()
	if _, err := db.Exec(string(script)); err != nil {
		return fmt.Errorf("failed to run %s on %s: %w", sqlFile, source, err)
	}
	var rows int64
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&rows); err != nil {
		return fmt.Errorf("failed to count the rows of %s: %w", source, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("failed to close %s: %w", source, err)
	}

	// The pod writes destination.db and the journals next to it, so it needs the directory.
	for _, path := range []string{dir, source} {
		if err := os.Chown(path, jobUserID, jobUserID); err != nil {
			return fmt.Errorf("failed to give %s to uid %d: %w", path, jobUserID, err)
		}
	}
	fmt.Printf("created %s with %d rows in table orders\n", source, rows)
	return nil
}

// serveMariaDB starts the two servers, prepares their databases, writes envFile
// and blocks until ctx ends.
func serveMariaDB(ctx context.Context, envFile, sqlFile string) error {
	script, err := os.ReadFile(sqlFile)
	if err != nil {
		return fmt.Errorf("failed to read the SQL file: %w", err)
	}
	source, err := testdb.StartMariaDB(ctx)
	if err != nil {
		return fmt.Errorf("failed to start the source MariaDB server: %w", err)
	}
	defer stopServer(source, "source")
	destination, err := testdb.StartMariaDB(ctx)
	if err != nil {
		return fmt.Errorf("failed to start the destination MariaDB server: %w", err)
	}
	defer stopServer(destination, "destination")

	rows, err := execOn(ctx, source, "shop", string(script))
	if err != nil {
		return err
	}
	if _, err := execOn(ctx, destination, "warehouse", ""); err != nil {
		return err
	}

	settings := []string{
		"SOURCE_HOST=" + source.Host(),
		fmt.Sprintf("SOURCE_PORT=%d", source.Port()),
		"SOURCE_USER=" + source.User(),
		"SOURCE_PASSWORD=" + source.Password(),
		"SOURCE_DATABASE=shop",
		fmt.Sprintf("SOURCE_PID=%d", source.PID()),
		"DESTINATION_HOST=" + destination.Host(),
		fmt.Sprintf("DESTINATION_PORT=%d", destination.Port()),
		"DESTINATION_USER=" + destination.User(),
		"DESTINATION_PASSWORD=" + destination.Password(),
		"DESTINATION_DATABASE=warehouse",
		fmt.Sprintf("DESTINATION_PID=%d", destination.PID()),
	}
	// Written under a temporary name and renamed, so a reader never sees half a file.
	tmp := envFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(settings, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, envFile); err != nil {
		return fmt.Errorf("failed to move the settings to %s: %w", envFile, err)
	}
	fmt.Printf("source MariaDB on %s (database shop, %d rows in orders), destination on %s (database warehouse); stop with SIGTERM\n",
		source.Addr(), rows, destination.Addr())

	<-ctx.Done()
	fmt.Println("stopping the MariaDB servers")
	return nil
}

// execOn creates database name on srv, runs script in it when it is not empty,
// and returns the row count of its orders table (0 without a script).
func execOn(ctx context.Context, srv *testdb.Server, name, script string) (int64, error) {
	admin, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		return 0, fmt.Errorf("failed to open MariaDB on %s: %w", srv.Addr(), err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return 0, fmt.Errorf("failed to create database %s on %s: %w", name, srv.Addr(), err)
	}
	if script == "" {
		return 0, nil
	}
	db, err := sql.Open("mysql", srv.DSN(name))
	if err != nil {
		return 0, fmt.Errorf("failed to open database %s on %s: %w", name, srv.Addr(), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, script); err != nil {
		return 0, fmt.Errorf("failed to load the sample data into %s on %s: %w", name, srv.Addr(), err)
	}
	var rows int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders").Scan(&rows); err != nil {
		return 0, fmt.Errorf("failed to count the rows of %s.orders on %s: %w", name, srv.Addr(), err)
	}
	return rows, nil
}

func stopServer(srv *testdb.Server, role string) {
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "demodata: failed to stop the %s MariaDB server: %v\n", role, err)
	}
}
