package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestSQLiteUpgradeKeepsConfigs builds a database with the migrations
// before 0003, which rebuilds transfer_configs, and checks that the upgrade
// keeps the rows, the references to them and foreign key enforcement.
func TestSQLiteUpgradeKeepsConfigs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	files, err := migrationFiles(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range files {
		if m.version >= 3 {
			break
		}
		if _, err := old.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("migration %s: %v", m.name, err)
		}
		if _, err := old.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?, 0)", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`INSERT INTO clusters (id, name, created_at) VALUES ('cls_1', 'tokyo', 1)`,
		`INSERT INTO connections (id, name, type, path, created_at) VALUES ('con_1', 'lake', 'sqlite', '/x.db', 1)`,
		`INSERT INTO transfer_configs (id, name, cluster_id, source_connection_id, source_table, destination_connection_id,
			destination_table, last_record, created_at, updated_at)
			VALUES ('cfg_1', 'orders', 'cls_1', 'con_1', 'orders', 'con_1', 'copy', '{"id":3}', 1, 2)`,
		`INSERT INTO jobs (id, config_id, config_name, cluster_id, type, state, created_at, updated_at)
			VALUES ('job_1', 'cfg_1', 'orders', 'cls_1', 'transfer', 'queued', 1, 1)`,
	} {
		if _, err := old.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open with the pending migration: %v", err)
	}
	defer db.Close()
	cfg, err := db.GetConfig(ctx, "orders")
	if err != nil {
		t.Fatalf("GetConfig after the upgrade: %v", err)
	}
	if cfg.ID != "cfg_1" || cfg.ClusterID != "cls_1" || cfg.SourceTable != "orders" || string(cfg.LastRecord) != `{"id":3}` {
		t.Errorf("config after the upgrade = %+v", cfg)
	}
	if job, err := db.GetJob(ctx, "job_1"); err != nil || job.ConfigID != "cfg_1" {
		t.Errorf("job after the upgrade = %+v, %v", job, err)
	}

	// The rebuilt table takes a config without a cluster, and the pooled
	// connections still enforce foreign keys.
	cfg.ID, cfg.Name, cfg.ClusterID = "cfg_2", "unassigned", ""
	if err := db.CreateConfig(ctx, cfg); err != nil {
		t.Fatalf("CreateConfig without a cluster: %v", err)
	}
	for range 3 {
		err := db.CreateJob(ctx, Job{ID: "job_bad", ConfigID: "cfg_missing", ConfigName: "x", ClusterID: "cls_1",
			Type: "transfer", State: "queued", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)})
		if err == nil {
			t.Fatal("CreateJob with a missing config succeeded; foreign keys are off")
		}
	}
	cfg.ID, cfg.Name, cfg.ClusterID = "cfg_3", "bad-cluster", "cls_missing"
	if err := db.CreateConfig(ctx, cfg); err == nil {
		t.Error("CreateConfig with a missing cluster succeeded; want a foreign key error")
	}
}
