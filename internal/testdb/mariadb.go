package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
)

// MariaDBOptions adjusts a MariaDB server started by StartMariaDBWith.
type MariaDBOptions struct {
	// ExtraArgs are appended to the mariadbd command line, for example
	// "--local-infile=0".
	ExtraArgs []string
}

// StartMariaDB initialises a MariaDB data directory in a temporary directory
// and starts mariadbd on 127.0.0.1 with an account "ferry" that holds all
// privileges. The server defaults to utf8mb4, allows LOAD DATA LOCAL INFILE
// and accepts packets up to 1 GiB.
func StartMariaDB(ctx context.Context) (*Server, error) {
	return StartMariaDBWith(ctx, MariaDBOptions{})
}

// StartMariaDBWith is StartMariaDB with options. Each call starts an
// independent server, so a test may run several.
func StartMariaDBWith(ctx context.Context, opts MariaDBOptions) (*Server, error) {
	if err := ensureInstalled(ctx, "mariadbd", "mariadb-server", "mariadb-client"); err != nil {
		return nil, err
	}
	dir, err := makeTempDir(KindMariaDB)
	if err != nil {
		return nil, err
	}
	s := &Server{kind: KindMariaDB, host: "127.0.0.1", user: "ferry", password: randomPassword(), dir: dir,
		logPath: filepath.Join(dir, "mariadbd.log")}
	if err := s.startMariaDB(ctx, opts); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

func (s *Server) startMariaDB(ctx context.Context, opts MariaDBOptions) error {
	data := filepath.Join(s.dir, "data")
	asRoot := os.Geteuid() == 0

	installArgs := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}
	if asRoot {
		installArgs = append(installArgs, "--user=root")
	}
	installDB := exec.CommandContext(ctx, "mariadb-install-db", installArgs...)
	installDB.Dir = s.dir
	if err := runLogged(installDB); err != nil {
		return err
	}

	initFile := filepath.Join(s.dir, "init.sql")
	initSQL := fmt.Sprintf("CREATE USER IF NOT EXISTS '%[1]s'@'%%' IDENTIFIED BY '%[2]s';\n"+
		"GRANT ALL PRIVILEGES ON *.* TO '%[1]s'@'%%' WITH GRANT OPTION;\n", s.user, s.password)
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		return fmt.Errorf("failed to write init file: %w", err)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
		args := []string{"--no-defaults",
			"--datadir=" + data,
			"--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1",
			"--socket=" + filepath.Join(s.dir, "mysqld.sock"),
			"--pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
			"--init-file=" + initFile,
			"--skip-name-resolve",
			"--local-infile=1",
			"--max-allowed-packet=1G",
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_general_ci",
			"--innodb-buffer-pool-size=256M",
			"--innodb-log-file-size=256M",
			"--innodb-flush-log-at-trx-commit=0",
			"--performance-schema=OFF",
			"--max-connections=200",
		}
		if asRoot {
			args = append(args, "--user=root")
		}
		args = append(args, opts.ExtraArgs...)
		cmd := exec.Command("mariadbd", args...)
		cmd.Dir = s.dir
		if err := s.launch(cmd); err != nil {
			return err
		}
		lastErr = s.waitReady(ctx, s.pingMariaDB)
		if lastErr == nil {
			return nil
		}
		if !strings.Contains(tail(s.logPath), "already in use") {
			return lastErr
		}
		<-s.exited
	}
	return lastErr
}

func (s *Server) pingMariaDB(ctx context.Context) error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// execMariaDB runs one statement (or several separated by semicolons) in
// database db; an empty db connects without a default database.
func (s *Server) execMariaDB(ctx context.Context, db, stmt string) error {
	conn, err := sql.Open("mysql", s.DSN(db))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, stmt)
	return err
}
