package testdb

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
)

// SkipEnv is the environment variable that, set to "1", skips tests that
// need a database server instead of failing them.
const SkipEnv = "FERRY_SKIP_DB_TESTS"

type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
}

var (
	sharedMu      sync.Mutex
	sharedServers = map[string]*sharedServer{}
)

// Main runs the tests of a package and stops the shared servers afterwards.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "testdb:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// StopShared stops every server started by Postgres, MariaDB or
// SecondMariaDB. Main calls it; call it yourself only without Main.
func StopShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	keys := make([]string, 0, len(sharedServers))
	for k := range sharedServers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var firstErr error
	for _, k := range keys {
		e := sharedServers[k]
		if e.srv != nil {
			if err := e.srv.Stop(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		delete(sharedServers, k)
	}
	return firstErr
}

// Postgres returns the package's shared PostgreSQL server, starting it on
// first use. It fails t when the server cannot start, or skips t when
// FERRY_SKIP_DB_TESTS=1.
func Postgres(t testing.TB) *Server {
	t.Helper()
	return shared(t, "postgres", StartPostgres)
}

// MariaDB returns the package's shared MariaDB server, starting it on first
// use. It fails t when the server cannot start, or skips t when
// FERRY_SKIP_DB_TESTS=1.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	return shared(t, "mariadb", StartMariaDB)
}

// SecondMariaDB returns a second shared MariaDB server, independent of the
// one MariaDB returns, for tests that move data between two servers.
func SecondMariaDB(t testing.TB) *Server {
	t.Helper()
	return shared(t, "mariadb-2", StartMariaDB)
}

func shared(t testing.TB, key string, start func(context.Context) (*Server, error)) *Server {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s=1: skipping a test that needs the %s server", SkipEnv, key)
	}
	sharedMu.Lock()
	e, ok := sharedServers[key]
	if !ok {
		e = &sharedServer{}
		sharedServers[key] = e
	}
	sharedMu.Unlock()

	e.once.Do(func() { e.srv, e.err = start(context.Background()) })
	if e.err != nil {
		t.Fatalf("failed to start the shared %s test server (set %s=1 to skip database tests): %v", key, SkipEnv, e.err)
	}
	return e.srv
}

// NewDatabase creates a fresh database named after the test and returns its
// name; DSN gives the connection string.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name, _, err := s.CreateDatabase(context.Background(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return name
}
