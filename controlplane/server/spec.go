package server

import (
	"encoding/json"
	"fmt"

	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
	"github.com/ferryhq/ferry/transfer/spec"
)

// buildSpec returns the engine's job document for a job of a configuration,
// with the connection passwords decrypted. Previews get no destination and
// no incremental settings: they read the first rows of the source.
func (s *Server) buildSpec(jobType protocol.JobType, cfg store.Config, src, dst store.Connection) (json.RawMessage, error) {
	srcConn, err := s.specConnection(src)
	if err != nil {
		return nil, err
	}
	job := spec.Job{
		Type: spec.JobType(jobType),
		Source: spec.Source{
			Connection: srcConn,
			Table:      cfg.SourceTable,
			Query:      cfg.SourceQuery,
			Columns:    cfg.SourceColumns,
			Where:      cfg.SourceWhere,
		},
		Parallelism: cfg.Parallelism,
		PreviewRows: cfg.PreviewRows,
	}
	if jobType == protocol.JobTransfer {
		dstConn, err := s.specConnection(dst)
		if err != nil {
			return nil, err
		}
		job.Destination = spec.Destination{
			Connection: dstConn,
			Table:      cfg.DestinationTable,
			Mode:       spec.Mode(cfg.DestinationMode),
			MergeKeys:  cfg.MergeKeys,
		}
		job.Incremental = cfg.Incremental
		job.IncrementalColumns = cfg.IncrementalColumns
		if cfg.Incremental && len(cfg.LastRecord) > 0 {
			if err := json.Unmarshal(cfg.LastRecord, &job.LastRecord); err != nil {
				return nil, fmt.Errorf("stored lastRecord of config %s is not a JSON object: %w", cfg.ID, err)
			}
		}
	}
	doc, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the job document: %w", err)
	}
	return doc, nil
}

// specConnection converts a stored connection with its password opened.
func (s *Server) specConnection(c store.Connection) (spec.Connection, error) {
	password, err := s.opts.Sealer.Open(c.PasswordSealed, c.ID)
	if err != nil {
		return spec.Connection{}, fmt.Errorf("failed to open the password of connection %s: %w", c.ID, err)
	}
	return spec.Connection{
		Type:     spec.EndpointType(c.Type),
		Host:     c.Host,
		Port:     c.Port,
		Database: c.Database,
		User:     c.User,
		Password: spec.Secret(password),
		Params:   c.Params,
		Path:     c.Path,
	}, nil
}
