// Package spec defines a transfer job: what to read, where to write it and
// how. The control plane sends the same Job to job pods as JSON, and
// `transfer run -f job.yaml` reads it from YAML; both use the lowerCamel
// keys below. The package has no database drivers.
package spec

import "encoding/json"

// JobType selects what the engine does with a job.
type JobType string

// Job types.
const (
	// JobTransfer copies every selected row from the source to the destination.
	JobTransfer JobType = "transfer"
	// JobPreview reads the column schema and the first rows of the source and
	// writes nothing.
	JobPreview JobType = "preview"
)

// EndpointType names the kind of a source or destination.
type EndpointType string

// Endpoint types. Parquet is only a destination.
const (
	TypeMySQL    EndpointType = "mysql"
	TypePostgres EndpointType = "postgres"
	TypeSQLite   EndpointType = "sqlite"
	TypeCSV      EndpointType = "csv"
	TypeJSONL    EndpointType = "jsonl"
	TypeParquet  EndpointType = "parquet"
)

// IsDatabase reports whether t is a database server or SQLite rather than a file format.
func (t EndpointType) IsDatabase() bool {
	return t == TypeMySQL || t == TypePostgres || t == TypeSQLite
}

// IsServer reports whether t is reached over the network with host, port and user.
func (t EndpointType) IsServer() bool { return t == TypeMySQL || t == TypePostgres }

// Mode is how rows are loaded into a database destination table.
type Mode string

// Load modes.
const (
	// ModeInsert appends rows to the table.
	ModeInsert Mode = "insert"
	// ModeTruncateInsert empties the table and loads the rows in one
	// transaction where the database allows it (PostgreSQL, SQLite). MariaDB's
	// TRUNCATE commits implicitly, so there it deletes the rows instead.
	ModeTruncateInsert Mode = "truncate_insert"
	// ModeReplace loads the rows into a new table and then swaps it in place
	// of the destination table atomically. The old table survives a failed load.
	ModeReplace Mode = "replace"
	// ModeMerge inserts new rows and updates rows whose merge keys match.
	ModeMerge Mode = "merge"
)

// Compression is the compression of a file source or destination.
type Compression string

// File compressions.
const (
	CompressionNone Compression = "none"
	CompressionGzip Compression = "gzip"
)

// Job is a transfer or preview job.
type Job struct {
	// type is "transfer" (default) or "preview".
	Type JobType `json:"type,omitempty"`

	// source is where rows are read. Required.
	Source Source `json:"source"`

	// destination is where rows are written. Required for transfer jobs and
	// ignored by previews.
	Destination Destination `json:"destination,omitempty"`

	// incremental reads only rows after lastRecord, ordered by
	// incrementalColumns. Default false.
	Incremental bool `json:"incremental,omitempty"`

	// incrementalColumns orders an incremental read; the first column is the
	// main position and later columns break its ties. Default: the source
	// table's primary key.
	IncrementalColumns []string `json:"incrementalColumns,omitempty"`

	// lastRecord is the position where the previous incremental run stopped:
	// a JSON value for each incremental column, as returned in that run's
	// summary. Empty means start from the beginning.
	LastRecord map[string]json.RawMessage `json:"lastRecord,omitempty"`

	// parallelism is the number of concurrent range reads of a table source.
	// Default 0 means one per CPU the process may use, following the cgroup
	// CPU quota. 1 reads a single stream.
	Parallelism int `json:"parallelism,omitempty"`

	// batchBytes is the approximate size in bytes of one write batch.
	// Default 0 means 1 MiB.
	BatchBytes int64 `json:"batchBytes,omitempty"`

	// previewRows is how many rows a preview returns, 1 to 1000. Default 20.
	PreviewRows int `json:"previewRows,omitempty"`
}

// Connection holds the settings to reach a database or a file. Server
// types (mysql, postgres) use host, port, database, user and a password.
// SQLite and the file types use path.
type Connection struct {
	// type is mysql, postgres, sqlite, csv, jsonl or parquet (destination
	// only). Required.
	Type EndpointType `json:"type"`

	// host is the server's host name or IP address. Required for servers.
	Host string `json:"host,omitempty"`

	// port is the server's TCP port, 1 to 65535. Default 3306 for mysql and
	// 5432 for postgres.
	Port int `json:"port,omitempty"`

	// database is the database name. Required for servers.
	Database string `json:"database,omitempty"`

	// user is the account name. Required for servers.
	User string `json:"user,omitempty"`

	// password is the account password. At most one of password,
	// passwordFromEnv and passwordFile may be set.
	Password Secret `json:"password,omitempty"`

	// passwordFromEnv names an environment variable holding the password.
	PasswordFromEnv string `json:"passwordFromEnv,omitempty"`

	// passwordFile is the path of a file holding the password; one trailing
	// newline is removed.
	PasswordFile string `json:"passwordFile,omitempty"`

	// params are extra driver parameters, such as tls for mysql or sslmode
	// for postgres. Values are passed to the driver unchanged.
	Params map[string]string `json:"params,omitempty"`

	// path is the file path for sqlite, csv, jsonl and parquet. Required for them.
	Path string `json:"path,omitempty"`

	// compression of csv and jsonl files: none or gzip. Default: gzip when
	// path ends in ".gz", otherwise none.
	Compression Compression `json:"compression,omitempty"`

	// nullString is the CSV field text that stands for NULL, such as "" or
	// "\N". A csv source reads such fields as NULL, and a csv destination
	// writes NULL as it. Default: unset, so a csv source has no NULLs and a
	// csv destination writes NULL as an empty field. CSV files only.
	NullString *string `json:"nullString,omitempty"`
}

// Source is where a job reads rows.
type Source struct {
	Connection `json:",inline"`

	// table is the table to read, optionally qualified as schema.table. A
	// database source sets exactly one of table and query.
	Table string `json:"table,omitempty"`

	// query is a SELECT statement to read instead of a table. It is sent to
	// the database as written.
	Query string `json:"query,omitempty"`

	// columns lists the columns to read from table, in order. Default: all.
	Columns []string `json:"columns,omitempty"`

	// where is a SQL condition added to the table read, as written.
	Where string `json:"where,omitempty"`
}

// Destination is where a job writes rows.
type Destination struct {
	Connection `json:",inline"`

	// table is the destination table, optionally qualified as schema.table.
	// Required for databases.
	Table string `json:"table,omitempty"`

	// mode is insert (default), truncate_insert, replace or merge. Databases only.
	Mode Mode `json:"mode,omitempty"`

	// mergeKeys are the columns that identify a row for merge. Default: the
	// destination table's primary key. A merge with neither fails before
	// writing anything.
	MergeKeys []string `json:"mergeKeys,omitempty"`

	// createTable creates the table when it is missing, with the closest exact
	// type for each source column. Default true.
	CreateTable *bool `json:"createTable,omitempty"`
}

// ShouldCreateTable returns createTable, which defaults to true.
func (d Destination) ShouldCreateTable() bool { return d.CreateTable == nil || *d.CreateTable }
