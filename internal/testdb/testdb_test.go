package testdb

import (
	"context"
	"database/sql"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresCreateDatabase(t *testing.T) {
	ctx := context.Background()
	pg := Postgres(t)
	name := pg.NewDatabase(t)

	conn, err := pgx.Connect(ctx, pg.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var got string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != name {
		t.Errorf("current_database() = %q, want %q", got, name)
	}
}

func TestTwoMariaDBServers(t *testing.T) {
	ctx := context.Background()
	first := MariaDB(t)
	second := SecondMariaDB(t)
	if first.Port() == second.Port() {
		t.Fatalf("both servers listen on port %d", first.Port())
	}

	for _, srv := range []*Server{first, second} {
		name := srv.NewDatabase(t)
		db, err := sql.Open("mysql", srv.DSN(name))
		if err != nil {
			t.Fatal(err)
		}
		var charset string
		if err := db.QueryRowContext(ctx, "SELECT @@character_set_database").Scan(&charset); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if charset != "utf8mb4" {
			t.Errorf("database charset = %q, want utf8mb4", charset)
		}
	}
}

func TestStopEndsProcess(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1")
	}
	srv, err := StartMariaDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := srv.PID(), srv.DataDir()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still runs after Stop", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s still exists after Stop (stat error %v)", dir, err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
