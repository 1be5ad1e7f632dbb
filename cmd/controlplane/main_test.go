package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/cptest"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/protocol"
)

// cli runs one command line against env and returns its output.
func cli(t *testing.T, env *cptest.Env, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	full := append(args, "--server", env.URL, "--admin-token", env.AdminToken)
	if err := run(context.Background(), full, &stdout, &stderr); err != nil {
		t.Fatalf("controlplane %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestCommandsOverAdminAPI(t *testing.T) {
	env := cptest.Start(t)
	dir := t.TempDir()

	if out := cli(t, env, "cluster", "create", "tokyo"); !strings.Contains(out, "tokyo") {
		t.Errorf("cluster create output %q lacks the name", out)
	}
	out := cli(t, env, "token", "create", "--cluster", "tokyo")
	if !strings.Contains(out, "ferry_reg_") {
		t.Errorf("token create output %q lacks the token", out)
	}
	cli(t, env, "connection", "create", "--name", "src", "--type", "sqlite", "--path", filepath.Join(dir, "a.db"))
	cli(t, env, "connection", "create", "--name", "dst", "--type", "sqlite", "--path", filepath.Join(dir, "b.db"))
	cli(t, env, "config", "create", "--name", "orders", "--cluster", "tokyo", "--source", "src", "--source-table", "orders",
		"--destination", "dst", "--destination-table", "orders", "--mode", "merge", "--merge-keys", "id")

	var job admin.Job
	if err := json.Unmarshal([]byte(cli(t, env, "job", "run", "orders", "-o", "json")), &job); err != nil {
		t.Fatalf("job run -o json: %v", err)
	}
	if job.State != protocol.StateQueued {
		t.Errorf("job state = %s, want queued", job.State)
	}
	if out := cli(t, env, "job", "list"); !strings.Contains(out, job.ID) {
		t.Errorf("job list output %q lacks %s", out, job.ID)
	}
	out = cli(t, env, "job", "show", job.ID)
	if !strings.Contains(out, "queued") {
		t.Errorf("job show output %q lacks the state", out)
	}
	if !strings.Contains(out, "Runner reason:") {
		t.Errorf("job show output %q lacks the runner's reason", out)
	}
	cli(t, env, "job", "cancel", job.ID)
	// The job has ended, so --follow returns at once.
	cli(t, env, "job", "logs", job.ID, "--follow")
	if out := cli(t, env, "runner", "list", "--cluster", "tokyo"); !strings.Contains(out, "STATE") {
		t.Errorf("runner list output %q lacks its header", out)
	}
	var conns []admin.Connection
	if err := json.Unmarshal([]byte(cli(t, env, "connection", "list", "-o", "json")), &conns); err != nil || len(conns) != 2 {
		t.Errorf("connection list -o json = %d connections (%v), want 2", len(conns), err)
	}
}

func TestServeRequiresSecrets(t *testing.T) {
	t.Setenv("FERRY_ADMIN_TOKEN", "")
	t.Setenv("FERRY_ENCRYPTION_KEY", "")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--db", "sqlite://" + filepath.Join(t.TempDir(), "x.db")}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "FERRY_ADMIN_TOKEN") {
		t.Errorf("serve without an admin token: %v, want an error naming FERRY_ADMIN_TOKEN", err)
	}
	t.Setenv("FERRY_ADMIN_TOKEN", "admin-token-for-test")
	err = run(context.Background(), []string{"serve"}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "gen-key") {
		t.Errorf("serve without a key: %v, want an error pointing at gen-key", err)
	}
	t.Setenv("FERRY_ENCRYPTION_KEY", "c2hvcnQ=")
	err = run(context.Background(), []string{"serve"}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("serve with a short key: %v, want an error naming the size", err)
	}
}

func TestAdminErrorsAreClear(t *testing.T) {
	env := cptest.Start(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"job", "show", "job_missing", "--server", env.URL, "--admin-token", env.AdminToken}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "job_missing") {
		t.Errorf("job show of a missing job: %v, want an error naming it", err)
	}
	err = run(context.Background(), []string{"job", "list", "--server", env.URL, "--admin-token", "wrong"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong admin token: %v, want a 401", err)
	}
}

func TestServeRejectsWrongKey(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "ferry.db")
	env := cptest.Start(t, cptest.WithDSN(dsn))
	env.Stop()

	other, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_ADMIN_TOKEN", "admin-token-for-test")
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--db", dsn, "--encryption-key-file", keyFile}, &stderr, &stderr)
	if err == nil {
		t.Fatal("serve with another key started, want an error")
	}
	for _, want := range []string{keyFile, "created with another encryption key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve with another key: %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), other) {
		t.Errorf("error %q contains the key", err)
	}
}

func TestServeRejectsUnsupportedScheme(t *testing.T) {
	t.Setenv("FERRY_ADMIN_TOKEN", "admin-token-for-test")
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_ENCRYPTION_KEY", key)
	t.Chdir(t.TempDir())
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--db", "mysql://ferry:db-secret@127.0.0.1/ferry"}, &stderr, &stderr)
	if err == nil {
		t.Fatal("serve with a mysql:// database started, want an error")
	}
	for _, want := range []string{`unsupported database scheme "mysql"`, "postgres://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve --db mysql://…: %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "db-secret") {
		t.Errorf("error %q contains the password", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"bogus", "list"}, `unknown command "bogus"`},
		{[]string{"job", "bogus"}, `unknown command "job bogus"`},
		{[]string{"job"}, "job needs a subcommand"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Errorf("error = %v, want a usage error", err)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestHelpHidesAdminToken(t *testing.T) {
	t.Setenv("FERRY_ADMIN_TOKEN", "ferry_admin_secret_for_test")
	var stdout, stderr bytes.Buffer
	_ = run(context.Background(), []string{"job", "list", "-h"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "-admin-token") {
		t.Fatalf("job list -h printed %q, want the flag list", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "ferry_admin_secret_for_test") {
		t.Errorf("job list -h printed the admin token from FERRY_ADMIN_TOKEN")
	}
}

func TestAdminTokenFromEnvironment(t *testing.T) {
	env := cptest.Start(t)
	t.Setenv("FERRY_ADMIN_TOKEN", env.AdminToken)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"cluster", "list", "--server", env.URL}, &stdout, &stderr); err != nil {
		t.Fatalf("cluster list with FERRY_ADMIN_TOKEN: %v (stderr %q)", err, stderr.String())
	}
}

func TestConnectionUpdateKeepsUnsetFlags(t *testing.T) {
	env := cptest.Start(t)
	t.Setenv("NEW_DB_PASSWORD", "second-secret")
	cli(t, env, "connection", "create", "--name", "pg", "--type", "postgres", "--host", "db.internal",
		"--database", "shop", "--user", "reader", "--param", "sslmode=require")

	var conn admin.Connection
	out := cli(t, env, "connection", "update", "pg", "--host", "db2.internal", "--password-env", "NEW_DB_PASSWORD", "-o", "json")
	if err := json.Unmarshal([]byte(out), &conn); err != nil {
		t.Fatalf("connection update -o json: %v\n%s", err, out)
	}
	if conn.Host != "db2.internal" || conn.Database != "shop" || conn.User != "reader" || conn.Params["sslmode"] != "require" {
		t.Errorf("connection after update = %+v, want the new host and the other settings kept", conn)
	}
	if !conn.HasPassword || strings.Contains(out, "second-secret") {
		t.Errorf("update output %s: want a stored password that is not shown", out)
	}

	out = cli(t, env, "connection", "update", "pg", "--name", "pg-main", "--clear-password", "-o", "json")
	if err := json.Unmarshal([]byte(out), &conn); err != nil {
		t.Fatal(err)
	}
	if conn.Name != "pg-main" || conn.HasPassword || conn.Host != "db2.internal" {
		t.Errorf("connection after rename and clear = %+v", conn)
	}
}

func TestJobListFilters(t *testing.T) {
	env := cptest.Start(t)
	cluster, _ := env.CreateCluster(t, "tokyo")
	cfg := env.CreateSQLiteConfig(t, cluster.Name, "orders")
	ctx := context.Background()
	transfer, err := env.Admin.RunJob(ctx, cfg.ID, protocol.JobTransfer)
	if err != nil {
		t.Fatal(err)
	}
	preview, err := env.Admin.RunJob(ctx, cfg.ID, protocol.JobPreview)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CancelJob(ctx, preview.ID); err != nil {
		t.Fatal(err)
	}

	out := cli(t, env, "job", "list", "--state", "queued,cancelled", "--type", "preview")
	if !strings.Contains(out, preview.ID) || strings.Contains(out, transfer.ID) {
		t.Errorf("job list --state queued,cancelled --type preview = %q, want only %s", out, preview.ID)
	}
	out = cli(t, env, "job", "list", "--since", "2000-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00+09:00")
	if !strings.Contains(out, preview.ID) || !strings.Contains(out, transfer.ID) {
		t.Errorf("job list over a wide range = %q, want both jobs", out)
	}

	var stderr bytes.Buffer
	err = run(ctx, []string{"job", "list", "--since", "yesterday", "--server", env.URL, "--admin-token", env.AdminToken}, &stderr, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), `invalid --since "yesterday"`) {
		t.Errorf("job list --since yesterday = %v, %q; want a usage error naming the value", err, stderr.String())
	}
	err = run(ctx, []string{"job", "list", "--state", "done", "--server", env.URL, "--admin-token", env.AdminToken}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), `state "done" is not a job state`) {
		t.Errorf("job list --state done = %v, want the server's message naming the state", err)
	}
}

func TestConnectionEndpoint(t *testing.T) {
	for _, tc := range []struct {
		conn admin.Connection
		want string
	}{
		{admin.Connection{User: "app", Host: "db.example", Database: "app"}, "app@db.example/app"},
		{admin.Connection{User: "app", Host: "db.example", Port: 3307, Database: "app"}, "app@db.example:3307/app"},
		{admin.Connection{User: "app", Host: "::1", Port: 5433, Database: "app"}, "app@[::1]:5433/app"},
	} {
		if got := connectionEndpoint(tc.conn); got != tc.want {
			t.Errorf("connectionEndpoint(%+v) = %q, want %q", tc.conn, got, tc.want)
		}
	}
}
