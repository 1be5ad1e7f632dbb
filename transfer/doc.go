// Package transfer is Ferry's transfer engine: it streams rows from a
// source to a destination with exact types and bounded memory.
//
// Sources are MySQL/MariaDB, PostgreSQL, SQLite, CSV and JSON Lines files;
// destinations are the same plus Parquet files. Rows travel as batches of
// values in a canonical form per column kind (see Kind). Readers of one
// table may run in parallel on ranges of its integer primary key, and the
// single writer loads everything in one transaction, so a failed run leaves
// a database destination unchanged.
//
// Run is the entry point; it does not care where the job came from.
// ExitCode maps its error to the process exit status:
//
//	0   success
//	1   any other failure
//	2   invalid job (bad field, missing table, merge without keys)
//	3   connection failure (cannot connect, authentication failed, connection lost)
//	4   data error (a value the destination cannot store exactly)
//	130 cancelled (SIGINT or SIGTERM)
//
// The package has no Kubernetes dependencies.
package transfer
