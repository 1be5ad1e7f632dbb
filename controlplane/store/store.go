// Package store keeps the control plane's state in SQLite or PostgreSQL.
//
// Both databases sit behind the Store interface and share one
// implementation over database/sql: the SQL is written once with `?`
// placeholders, and the few differences (placeholders, row locks, column
// types in the migrations) depend on the dialect. Migrations are embedded
// and run by Open.
//
// SQLite runs in WAL mode with a busy timeout, and the store serialises its
// write transactions with a mutex, because SQLite allows one writer at a
// time. PostgreSQL locks rows: dispatch claims queued jobs with
// FOR UPDATE SKIP LOCKED, so several control plane replicas can share one
// database, and wake-ups reach the other replicas through LISTEN/NOTIFY.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	// Database drivers: "sqlite" (modernc.org/sqlite) and "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect names a supported database.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDuplicate is returned when an insert violates a unique constraint,
// such as a second cluster with the same name.
var ErrDuplicate = errors.New("already exists")

// Store is the control plane's storage. Querier methods called on the Store
// itself run outside a transaction; InTx runs a function in one.
type Store interface {
	Querier

	// InTx runs fn in a transaction and commits it when fn returns nil. On
	// PostgreSQL, LockJob and ClaimQueuedJobs lock rows until the commit.
	InTx(ctx context.Context, fn func(q Querier) error) error

	// Notify tells the other control plane replicas sharing the database
	// that key (a cluster ID) has news. It is a no-op on SQLite, which has
	// a single server process.
	Notify(ctx context.Context, key string) error

	// Listen calls fn with the key of every Notify, from any replica, until
	// ctx ends. On SQLite it only waits for ctx.
	Listen(ctx context.Context, fn func(key string)) error

	// Dialect returns the database kind.
	Dialect() Dialect

	// Close closes the database.
	Close() error
}

// DB implements Store for both dialects.
type DB struct {
	db      *sql.DB
	dialect Dialect
	// pgDSN is the connection string that Listen uses for its own connection.
	pgDSN string
	// writeMu serialises SQLite write transactions.
	writeMu sync.Mutex
	queries
}

// Open opens the database that dsn names and runs the pending migrations.
// dsn is "sqlite:///abs/path.db", "sqlite://rel/path.db", a plain file path
// (SQLite), or a "postgres://" or "postgresql://" URL. Other URL schemes,
// such as "mysql://", are rejected.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var s *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("failed to open PostgreSQL: %w", err)
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		s = &DB{db: db, dialect: Postgres, pgDSN: dsn}
	case hasOtherScheme(dsn):
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, fmt.Errorf("unsupported database scheme %q; use sqlite:///path/ferry.db or postgres://user:password@host/database", scheme)
	default:
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return nil, errors.New("the SQLite database path is empty; use --db sqlite:///path/ferry.db")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("invalid SQLite path %q: %w", path, err)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		db, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("failed to open SQLite database %s: %w", abs, err)
		}
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
		s = &DB{db: db, dialect: SQLite}
	}
	s.queries = queries{run: s.db, dialect: s.dialect}
	if err := s.db.PingContext(ctx); err != nil {
		_ = s.db.Close()
		return nil, fmt.Errorf("failed to connect to the %s database: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// hasOtherScheme reports whether dsn starts with a URL scheme other than
// sqlite, such as "mysql://", so it is not taken for a SQLite file path.
func hasOtherScheme(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || scheme == "sqlite" {
		return false
	}
	u, err := url.Parse(scheme + "://")
	return err == nil && u.Scheme != ""
}

// Dialect returns the database kind.
func (s *DB) Dialect() Dialect { return s.dialect }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// InTx runs fn in a transaction.
func (s *DB) InTx(ctx context.Context, fn func(q Querier) error) error {
	if s.dialect == SQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("failed to begin a transaction: %w", err)
	}
	if err := fn(queries{run: tx, dialect: s.dialect}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("failed to commit a transaction: %w", err)
	}
	return nil
}

// notifyChannel is the PostgreSQL channel of wake-ups.
const notifyChannel = "ferry_wake"

// Notify sends key to the other replicas on PostgreSQL.
func (s *DB) Notify(ctx context.Context, key string) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, key); err != nil {
		return fmt.Errorf("failed to notify other replicas: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations that the database lacks, each in
// its own transaction. On PostgreSQL an advisory lock keeps replicas that
// start together from applying the same migration twice.
func (s *DB) migrate(ctx context.Context) error {
	files, err := migrationFiles(s.dialect)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("failed to create the schema_migrations table: %w", err)
	}
	if s.dialect == SQLite {
		return s.migrateSQLite(ctx, files)
	}
	for _, m := range files {
		err := s.InTx(ctx, func(q Querier) error {
			tx := q.(queries).run
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7403920)"); err != nil {
				return err
			}
			_, err := s.applyMigration(ctx, tx, m)
			return err
		})
		if err != nil {
			return fmt.Errorf("failed to apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// migrateSQLite applies the migrations on one connection with foreign keys
// off. SQLite changes a column's constraints only by rebuilding the table,
// and its documented procedure for that turns foreign keys off, because
// dropping the old table would otherwise fail on the rows that reference
// it. PRAGMA foreign_key_check runs before each commit instead.
func (s *DB) migrateSQLite(ctx context.Context, files []migration) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("failed to get a connection for the migrations: %w", err)
	}
	defer func() {
		// The PRAGMA is a no-op inside a transaction, so it works only
		// here. A connection left with foreign keys off is discarded.
		if _, restoreErr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); restoreErr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("failed to turn foreign keys back on after the migrations: %w", restoreErr)
			}
		}
		_ = conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("failed to turn foreign keys off for the migrations: %w", err)
	}
	for _, m := range files {
		if err := s.applySQLiteMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("failed to apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *DB) applySQLiteMigration(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()

	applied, err := s.applyMigration(ctx, tx, m)
	if err != nil || !applied {
		return err
	}

	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	var table, parent string
	var rowID sql.NullInt64
	var fkID int
	violated := rows.Next()
	if violated {
		err = rows.Scan(&table, &rowID, &parent, &fkID)
	}
	if closeErr := rows.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	if violated {
		// Only the first violation is reported; the check lists them all.
		return fmt.Errorf("row %d of table %s references a missing row of %s", rowID.Int64, table, parent)
	}
	return tx.Commit()
}

// applyMigration runs m unless the database has it, and reports whether it
// ran.
func (s *DB) applyMigration(ctx context.Context, tx runner, m migration) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, rebind(s.dialect, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	_, err := tx.ExecContext(ctx, rebind(s.dialect, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().UnixNano())
	return err == nil, err
}

// rebind turns `?` placeholders into PostgreSQL's `$1, $2, …`. The store's
// SQL never has a `?` inside a string literal.
func rebind(d Dialect, query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
