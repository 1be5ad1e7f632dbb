//go:build cluster

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/internal/testdb"
)

// database is one fresh database on a test server.
type database struct {
	srv  *testdb.Server
	name string
	db   *sql.DB
}

// newDatabase creates a database on srv for the test and opens it.
func newDatabase(t *testing.T, srv *testdb.Server) *database {
	t.Helper()
	name, dsn, err := srv.CreateDatabase(context.Background(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	driver := "mysql"
	if srv.Kind() == testdb.KindPostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("failed to open database %s on %s: %v", name, srv.Addr(), err)
	}
	t.Cleanup(func() { db.Close() })
	return &database{srv: srv, name: name, db: db}
}

// exec runs statements and fails the test on the first error.
func (d *database) exec(t *testing.T, statements ...string) {
	t.Helper()
	for _, stmt := range statements {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		_, err := d.db.ExecContext(ctx, stmt)
		cancel()
		if err != nil {
			t.Fatalf("failed to run %.200q on %s: %v", stmt, d.name, err)
		}
	}
}

// count returns the number of rows of table.
func (d *database) count(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := d.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("failed to count the rows of %s.%s: %v", d.name, table, err)
	}
	return n
}

// connection creates a control-plane connection to the database, named after the test.
func (d *database) connection(t *testing.T, label string) admin.Connection {
	t.Helper()
	kind := "mysql"
	if d.srv.Kind() == testdb.KindPostgres {
		kind = "postgres"
	}
	conn, err := sys.admin.CreateConnection(bg(t), admin.CreateConnectionRequest{
		Name: d.name + "-" + label, Type: kind, Host: d.srv.Host(), Port: d.srv.Port(),
		Database: d.name, User: d.srv.User(), Password: d.srv.Password(),
	})
	if err != nil {
		t.Fatalf("failed to create connection %s: %v", label, err)
	}
	return conn
}

// createOrders creates table orders with rows 1..n of varied types: integers, a decimal,
// microsecond datetimes, multi-byte text and NULLs.
func (d *database) createOrders(t *testing.T, n int) {
	t.Helper()
	if d.srv.Kind() == testdb.KindPostgres {
		d.exec(t,
			`CREATE TABLE orders (
				id bigint PRIMARY KEY, customer varchar(64) NOT NULL, quantity integer NOT NULL,
				unit_price numeric(10,2) NOT NULL, ordered_at timestamp(6) NOT NULL, note text)`,
			fmt.Sprintf(`INSERT INTO orders
				SELECT n, 'customer-' || (n %% 250), 1 + n %% 7, (100 + n %% 900) / 4.0,
					timestamp '2026-01-01' + n * interval '97000123 microseconds',
					CASE WHEN n %% 5 = 0 THEN 'gift wrap, ご注文ありがとうございます' END
				FROM generate_series(1, %d) AS n`, n))
		return
	}
	d.exec(t,
		`CREATE TABLE orders (
			id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(64) NOT NULL, quantity INT NOT NULL,
			unit_price DECIMAL(10,2) NOT NULL, ordered_at DATETIME(6) NOT NULL, note TEXT NULL
		) CHARACTER SET utf8mb4`,
		"SET SESSION max_recursive_iterations = 100000000",
		fmt.Sprintf(`INSERT INTO orders
			WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
			SELECT n, CONCAT('customer-', n %% 250), 1 + n %% 7, (100 + n %% 900) / 4,
				TIMESTAMPADD(MICROSECOND, n * 97000123, '2026-01-01 00:00:00'),
				CASE WHEN n %% 5 = 0 THEN 'gift wrap, ご注文ありがとうございます' END
			FROM seq`, n))
}

// slowOrdersQuery returns a MariaDB SELECT of every row of orders that sleeps perRow before
// each row. A job reading it lasts about perRow times the row count, so a test can act while
// it runs.
func slowOrdersQuery(perRow time.Duration) string {
	return fmt.Sprintf("SELECT id, customer, quantity, unit_price, ordered_at, note FROM orders WHERE SLEEP(%g) = 0",
		perRow.Seconds())
}

// orderRows returns the rows of a MariaDB orders-like table as text, ordered by id.
func (d *database) orderRows(t *testing.T, table string) []string {
	t.Helper()
	rows, err := d.db.Query(fmt.Sprintf(
		"SELECT CONCAT_WS('|', id, customer, quantity, unit_price, ordered_at, IFNULL(note, '<null>')) FROM %s ORDER BY id", table))
	if err != nil {
		t.Fatalf("failed to read %s.%s: %v", d.name, table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("failed to read %s.%s: %v", d.name, table, err)
	}
	return out
}

// sameRows fails the test unless got and want hold the same rows, naming the first difference.
func sameRows(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("destination has %d rows, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("row %d differs:\n got  %s\n want %s", i, got[i], want[i])
			return
		}
	}
}

// tablesExcept lists the tables of the MariaDB database other than exact, such as a temporary
// table that a replace load left behind.
func (d *database) tablesExcept(t *testing.T, exact string) []string {
	t.Helper()
	rows, err := d.db.Query("SHOW TABLES")
	if err != nil {
		t.Fatalf("failed to list the tables of %s: %v", d.name, err)
	}
	defer rows.Close()
	var others []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(name, exact) {
			others = append(others, name)
		}
	}
	return others
}
