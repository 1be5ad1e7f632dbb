package transfer

import (
	"fmt"

	"github.com/ferryhq/ferry/transfer/spec"
)

func newSource(r *run, src spec.Source) (source, error) {
	password, err := src.ResolvePassword()
	if err != nil {
		return nil, invalidJob("source: %w", err)
	}
	switch src.Type {
	case spec.TypeMySQL:
		s := &mysqlSource{conn: src.Connection, password: password.Value()}
		s.sqlSource = sqlSource{run: r, src: src, db: s}
		return s, nil
	case spec.TypePostgres:
		s := &postgresSource{conn: src.Connection, password: password.Value()}
		s.sqlSource = sqlSource{run: r, src: src, db: s}
		return s, nil
	case spec.TypeSQLite:
		s := &sqliteSource{path: src.Path}
		s.sqlSource = sqlSource{run: r, src: src, db: s}
		return s, nil
	case spec.TypeCSV:
		return &csvSource{run: r, src: src}, nil
	case spec.TypeJSONL:
		return &jsonlSource{run: r, src: src}, nil
	}
	return nil, invalidJob("source.type: %q cannot be read", src.Type)
}

func newDestination(r *run, dst spec.Destination) (destination, error) {
	password, err := dst.ResolvePassword()
	if err != nil {
		return nil, invalidJob("destination: %w", err)
	}
	switch dst.Type {
	case spec.TypeMySQL:
		return &mysqlDest{run: r, dst: dst, password: password.Value()}, nil
	case spec.TypePostgres:
		return &postgresDest{run: r, dst: dst, password: password.Value()}, nil
	case spec.TypeSQLite:
		return &sqliteDest{run: r, dst: dst}, nil
	case spec.TypeCSV, spec.TypeJSONL, spec.TypeParquet:
		return &fileDest{run: r, dst: dst}, nil
	}
	return nil, invalidJob("destination.type: %q cannot be written", dst.Type)
}

var _ = fmt.Sprintf
