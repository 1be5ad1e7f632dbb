// Package testdb starts throwaway MariaDB and PostgreSQL servers for tests.
//
// Each server listens on 127.0.0.1 on a free port, keeps its data in a
// temporary directory and is stopped by its process ID. The Debian packages
// mariadb-server, mariadb-client and postgresql are installed with apt-get
// when their binaries are missing and the process runs as root.
//
// A test package shares one server of each kind across its tests:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
//
//	func TestCopy(t *testing.T) {
//		pg := testdb.Postgres(t)
//		dsn := pg.NewDatabase(t)
//		...
//	}
//
// A test that needs a server and cannot get one fails with the reason, so a
// CI run never passes by skipping. Setting FERRY_SKIP_DB_TESTS=1 skips those
// tests instead.
package testdb
