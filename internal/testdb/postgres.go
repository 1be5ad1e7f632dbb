package testdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// StartPostgres initialises a PostgreSQL cluster in a temporary directory
// and starts it on 127.0.0.1 with a superuser named "ferry". When running as
// root, initdb and postgres run as the "postgres" user, because PostgreSQL
// refuses to run as root. Durability settings are off for speed.
func StartPostgres(ctx context.Context) (*Server, error) {
	bin, err := postgresBinDir(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := makeTempDir(KindPostgres)
	if err != nil {
		return nil, err
	}
	s := &Server{kind: KindPostgres, host: "127.0.0.1", user: "ferry", password: randomPassword(), dir: dir,
		logPath: filepath.Join(dir, "postgres.log")}
	if err := s.startPostgres(ctx, bin); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

func (s *Server) startPostgres(ctx context.Context, bin string) error {
	data := filepath.Join(s.dir, "data")
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write password file: %w", err)
	}

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("failed to find the postgres user that the postgresql package creates: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{s.dir, pwfile} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("failed to hand %s to the postgres user: %w", p, err)
			}
		}
	}

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", s.user,
		"--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = s.dir
	if err := runLogged(initdb); err != nil {
		return err
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+s.dir,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
			"-c", "max_wal_size=4GB")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = s.dir
		if err := s.launch(cmd); err != nil {
			return err
		}
		lastErr = s.waitReady(ctx, s.pingPostgres)
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

func (s *Server) pingPostgres(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// execPostgres runs one statement in database db.
func (s *Server) execPostgres(ctx context.Context, db, stmt string) error {
	if s.kind != KindPostgres {
		return errors.New("not a PostgreSQL server")
	}
	conn, err := pgx.Connect(ctx, s.DSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}
