package server

import (
	"encoding/json"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAdminCluster(c store.Cluster) admin.Cluster {
	return admin.Cluster{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt}
}

func toAdminToken(t store.RegistrationToken) admin.Token {
	return admin.Token{ID: t.ID, ClusterID: t.ClusterID, Hint: t.Hint, CreatedAt: t.CreatedAt, RevokedAt: timePtr(t.RevokedAt)}
}

func toAdminConnection(c store.Connection) admin.Connection {
	return admin.Connection{ID: c.ID, Name: c.Name, Type: c.Type, Host: c.Host, Port: c.Port, Database: c.Database,
		User: c.User, HasPassword: c.PasswordSealed != "", Path: c.Path, Params: c.Params, CreatedAt: c.CreatedAt}
}

func toAdminConfig(c store.Config) admin.Config {
	return admin.Config{
		ID: c.ID, Name: c.Name, ClusterID: c.ClusterID,
		Source: admin.ConfigSource{Connection: c.SourceConnectionID, Table: c.SourceTable, Query: c.SourceQuery,
			Columns: c.SourceColumns, Where: c.SourceWhere},
		Destination: admin.ConfigDestination{Connection: c.DestinationConnectionID, Table: c.DestinationTable,
			Mode: c.DestinationMode, MergeKeys: c.MergeKeys},
		Incremental: c.Incremental, IncrementalColumns: c.IncrementalColumns, LastRecord: c.LastRecord,
		Parallelism: c.Parallelism, PreviewRows: c.PreviewRows, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func toAdminJob(j store.Job) admin.Job {
	out := admin.Job{
		ID: j.ID, ConfigID: j.ConfigID, ConfigName: j.ConfigName, ClusterID: j.ClusterID, Type: j.Type, State: j.State,
		Reason: j.Reason, Message: j.Message, Epoch: j.Epoch, Attempts: j.Attempts, RunnerID: j.RunnerID,
		OperatorPhase: j.OperatorPhase, OperatorReason: j.OperatorReason, Rows: j.Rows, Bytes: j.Bytes, CreatedAt: j.CreatedAt,
		AssignedAt: timePtr(j.AssignedAt), StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt),
	}
	if len(j.Result) > 0 {
		var r protocol.ResultRequest
		if json.Unmarshal(j.Result, &r) == nil {
			out.Result = &r
		}
	}
	if len(j.Preview) > 0 {
		var p protocol.PreviewRequest
		if json.Unmarshal(j.Preview, &p) == nil {
			out.Preview = &p
		}
	}
	return out
}

func toAdminRunner(r store.Runner) admin.Runner {
	return admin.Runner{ID: r.ID, ClusterID: r.ClusterID, Name: r.Name, Version: r.Version,
		MaxConcurrentJobs: r.MaxConcurrentJobs, NoSendPreview: r.NoSendPreview, State: r.State,
		FreeSlots: r.FreeSlots, RunningJobs: r.RunningJobs, LastHeartbeatAt: timePtr(r.LastHeartbeatAt), CreatedAt: r.CreatedAt}
}
