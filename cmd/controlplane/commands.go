package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/protocol"
)

// adminCmd runs one admin API subcommand.
type adminCmd struct {
	stdout, stderr io.Writer
	name           string
	server         string
	token          string
	output         string
}

// flags returns a flag set with the flags every admin command has.
func (a *adminCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(a.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&a.server, "server", envOr("FERRY_SERVER", "http://127.0.0.1:8080"), "control plane URL (environment FERRY_SERVER)")
	// The default stays empty so that -h never prints the token; client()
	// falls back to the environment.
	fs.StringVar(&a.token, "admin-token", "", "admin API token (default: environment FERRY_ADMIN_TOKEN)")
	fs.StringVar(&a.output, "o", "table", "output format: table or json")
	return fs
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses args and checks the common flags and the number of
// positional arguments.
func (a *adminCmd) parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// Allow flags after positional arguments, as in `job logs ID --follow`.
	var rest []string
	for fs.NArg() > 0 {
		rest = append(rest, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	if len(rest) != len(positional) {
		want := "no arguments"
		if len(positional) > 0 {
			want = strings.Join(positional, " ")
		}
		return nil, usageError(a.stderr, "%s takes %s, got %d argument(s)", a.name, want, len(rest))
	}
	if a.output != "table" && a.output != "json" {
		return nil, usageError(a.stderr, "invalid -o %q; use table or json", a.output)
	}
	return rest, nil
}

func (a *adminCmd) client() (*admin.Client, error) {
	if a.token == "" {
		a.token = os.Getenv("FERRY_ADMIN_TOKEN")
	}
	if a.token == "" {
		return nil, errors.New("no admin token: set FERRY_ADMIN_TOKEN or pass --admin-token")
	}
	return admin.NewClient(a.server, a.token)
}

// print writes v as JSON with -o json, or calls table otherwise.
func (a *adminCmd) print(v any, table func(w *tabwriter.Writer)) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func (a *adminCmd) clusterCreate(ctx context.Context, args []string) error {
	rest, err := a.parse(a.flags(), args, "NAME")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	cluster, err := c.CreateCluster(ctx, rest[0])
	if err != nil {
		return err
	}
	return a.print(cluster, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "ID\tNAME\n%s\t%s\n", cluster.ID, cluster.Name)
	})
}

func (a *adminCmd) clusterList(ctx context.Context, args []string) error {
	if _, err := a.parse(a.flags(), args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	clusters, err := c.ListClusters(ctx)
	if err != nil {
		return err
	}
	return a.print(clusters, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tCREATED")
		for _, cl := range clusters {
			fmt.Fprintf(w, "%s\t%s\t%s\n", cl.ID, cl.Name, cl.CreatedAt.Format(time.RFC3339))
		}
	})
}

func (a *adminCmd) tokenFlags() (*flag.FlagSet, *string) {
	fs := a.flags()
	cluster := fs.String("cluster", "", "cluster ID or name (required)")
	return fs, cluster
}

func (a *adminCmd) requireCluster(cluster string) error {
	if cluster == "" {
		return usageError(a.stderr, "%s needs --cluster ID or name", a.name)
	}
	return nil
}

func (a *adminCmd) tokenCreate(ctx context.Context, args []string) error {
	fs, cluster := a.tokenFlags()
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if err := a.requireCluster(*cluster); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	tok, err := c.CreateToken(ctx, *cluster)
	if err != nil {
		return err
	}
	return a.print(tok, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "ID\tCLUSTER\n%s\t%s\n\n", tok.ID, tok.ClusterID)
		fmt.Fprintf(w, "Registration token (shown only now; store it in the runner's Secret):\n%s\n", tok.Token)
	})
}

func (a *adminCmd) tokenList(ctx context.Context, args []string) error {
	fs, cluster := a.tokenFlags()
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if err := a.requireCluster(*cluster); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	tokens, err := c.ListTokens(ctx, *cluster)
	if err != nil {
		return err
	}
	return a.print(tokens, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tHINT\tCREATED\tREVOKED")
		for _, t := range tokens {
			revoked := "-"
			if t.RevokedAt != nil {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.ID, t.Hint, t.CreatedAt.Format(time.RFC3339), revoked)
		}
	})
}

func (a *adminCmd) tokenRevoke(ctx context.Context, args []string) error {
	fs, cluster := a.tokenFlags()
	rest, err := a.parse(fs, args, "TOKEN_ID")
	if err != nil {
		return err
	}
	if err := a.requireCluster(*cluster); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.RevokeToken(ctx, *cluster, rest[0]); err != nil {
		return err
	}
	return a.print(map[string]string{"revoked": rest[0]}, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "Revoked token %s\n", rest[0])
	})
}

func (a *adminCmd) connectionCreate(ctx context.Context, args []string) error {
	fs := a.flags()
	var req admin.CreateConnectionRequest
	var params stringMap
	fs.StringVar(&req.Name, "name", "", "connection name (required)")
	fs.StringVar(&req.Type, "type", "", "mysql, postgres, sqlite, csv, jsonl or parquet (required)")
	fs.StringVar(&req.Host, "host", "", "server host name (mysql, postgres)")
	fs.IntVar(&req.Port, "port", 0, "server TCP port; 0 means the type's default")
	fs.StringVar(&req.Database, "database", "", "database name (mysql, postgres)")
	fs.StringVar(&req.User, "user", "", "account name (mysql, postgres)")
	passwordEnv := fs.String("password-env", "", "environment variable holding the password")
	passwordFile := fs.String("password-file", "", "file holding the password; one trailing newline is removed")
	fs.StringVar(&req.Path, "path", "", "file path (sqlite, csv, jsonl, parquet)")
	fs.Var(&params, "param", "driver parameter key=value, repeatable (such as sslmode=require)")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	password, err := a.readPassword(*passwordEnv, *passwordFile)
	if err != nil {
		return err
	}
	req.Password = password
	req.Params = params
	c, err := a.client()
	if err != nil {
		return err
	}
	conn, err := c.CreateConnection(ctx, req)
	if err != nil {
		return err
	}
	return a.print(conn, func(w *tabwriter.Writer) { connectionTable(w, []admin.Connection{conn}) })
}

// readPassword returns the password from the environment variable or the
// file a connection command names, or "" when it names neither.
func (a *adminCmd) readPassword(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", usageError(a.stderr, "--password-env and --password-file are mutually exclusive; keep one")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s named by --password-env is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("failed to read --password-file: %w", err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	return "", nil
}

// connectionUpdate changes the settings given as flags and keeps the
// others: it reads the connection, applies the flags and sends the whole.
func (a *adminCmd) connectionUpdate(ctx context.Context, args []string) error {
	fs := a.flags()
	var edit admin.UpdateConnectionRequest
	var params stringMap
	fs.StringVar(&edit.Name, "name", "", "new connection name")
	fs.StringVar(&edit.Type, "type", "", "mysql, postgres, sqlite, csv, jsonl or parquet")
	fs.StringVar(&edit.Host, "host", "", "server host name (mysql, postgres)")
	fs.IntVar(&edit.Port, "port", 0, "server TCP port; 0 means the type's default")
	fs.StringVar(&edit.Database, "database", "", "database name (mysql, postgres)")
	fs.StringVar(&edit.User, "user", "", "account name (mysql, postgres)")
	passwordEnv := fs.String("password-env", "", "environment variable holding a new password")
	passwordFile := fs.String("password-file", "", "file holding a new password; one trailing newline is removed")
	fs.BoolVar(&edit.ClearPassword, "clear-password", false, "remove the stored password")
	fs.StringVar(&edit.Path, "path", "", "file path (sqlite, csv, jsonl, parquet)")
	fs.Var(&params, "param", "driver parameter key=value, repeatable; replaces all stored parameters")
	rest, err := a.parse(fs, args, "CONNECTION")
	if err != nil {
		return err
	}
	if edit.Password, err = a.readPassword(*passwordEnv, *passwordFile); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	current, err := c.GetConnection(ctx, rest[0])
	if err != nil {
		return err
	}
	req := admin.UpdateConnectionRequest{Name: current.Name, Type: current.Type, Host: current.Host, Port: current.Port,
		Database: current.Database, User: current.User, Path: current.Path, Params: current.Params,
		Password: edit.Password, ClearPassword: edit.ClearPassword}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			req.Name = edit.Name
		case "type":
			req.Type = edit.Type
		case "host":
			req.Host = edit.Host
		case "port":
			req.Port = edit.Port
		case "database":
			req.Database = edit.Database
		case "user":
			req.User = edit.User
		case "path":
			req.Path = edit.Path
		case "param":
			req.Params = params
		}
	})
	conn, err := c.UpdateConnection(ctx, rest[0], req)
	if err != nil {
		return err
	}
	return a.print(conn, func(w *tabwriter.Writer) { connectionTable(w, []admin.Connection{conn}) })
}

func connectionTable(w io.Writer, conns []admin.Connection) {
	fmt.Fprintln(w, "ID\tNAME\tTYPE\tENDPOINT\tPASSWORD")
	for _, c := range conns {
		endpoint := c.Path
		if endpoint == "" {
			endpoint = connectionEndpoint(c)
		}
		password := "-"
		if c.HasPassword {
			password = "stored"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Type, endpoint, password)
	}
}

// connectionEndpoint returns user@host[:port]/database for a database
// connection. Port 0 means the type's default port, so it is left out.
func connectionEndpoint(c admin.Connection) string {
	host := c.Host
	if c.Port != 0 {
		host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	}
	return fmt.Sprintf("%s@%s/%s", c.User, host, c.Database)
}

func (a *adminCmd) connectionList(ctx context.Context, args []string) error {
	if _, err := a.parse(a.flags(), args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	conns, err := c.ListConnections(ctx)
	if err != nil {
		return err
	}
	return a.print(conns, func(w *tabwriter.Writer) { connectionTable(w, conns) })
}

func (a *adminCmd) configCreate(ctx context.Context, args []string) error {
	fs := a.flags()
	var req admin.CreateConfigRequest
	var columns, mergeKeys, incColumns stringList
	fs.StringVar(&req.Name, "name", "", "configuration name (required)")
	fs.StringVar(&req.Cluster, "cluster", "", "cluster ID or name whose runners run the jobs; without it, jobs cannot run until one is set")
	fs.StringVar(&req.Source.Connection, "source", "", "source connection ID or name (required)")
	fs.StringVar(&req.Source.Table, "source-table", "", "table to read")
	fs.StringVar(&req.Source.Query, "source-query", "", "SELECT statement to read instead of a table")
	fs.Var(&columns, "columns", "comma-separated columns to read; default all")
	fs.StringVar(&req.Source.Where, "where", "", "SQL condition added to the table read")
	fs.StringVar(&req.Destination.Connection, "destination", "", "destination connection ID or name (required)")
	fs.StringVar(&req.Destination.Table, "destination-table", "", "table to write (databases)")
	fs.StringVar(&req.Destination.Mode, "mode", "", "insert (default), truncate_insert, replace or merge")
	fs.Var(&mergeKeys, "merge-keys", "comma-separated key columns for mode merge; default the primary key")
	fs.BoolVar(&req.Incremental, "incremental", false, "read only rows after the last run's position")
	fs.Var(&incColumns, "incremental-columns", "comma-separated columns ordering an incremental read; default the primary key")
	fs.IntVar(&req.Parallelism, "parallelism", 0, "concurrent reads; 0 lets the engine choose")
	fs.IntVar(&req.PreviewRows, "preview-rows", 0, "rows a preview reads, 1 to 1000; 0 means 20")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	req.Source.Columns, req.Destination.MergeKeys, req.IncrementalColumns = columns, mergeKeys, incColumns
	c, err := a.client()
	if err != nil {
		return err
	}
	cfg, err := c.CreateConfig(ctx, req)
	if err != nil {
		return err
	}
	return a.print(cfg, func(w *tabwriter.Writer) { configTable(w, []admin.Config{cfg}) })
}

func configTable(w io.Writer, cfgs []admin.Config) {
	fmt.Fprintln(w, "ID\tNAME\tCLUSTER\tSOURCE\tDESTINATION\tMODE\tINCREMENTAL")
	for _, c := range cfgs {
		source := c.Source.Table
		if source == "" && c.Source.Query != "" {
			source = "(query)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", c.ID, c.Name, dash(c.ClusterID), c.Source.Connection+"/"+source,
			c.Destination.Connection+"/"+c.Destination.Table, dash(c.Destination.Mode), c.Incremental)
	}
}

func (a *adminCmd) configList(ctx context.Context, args []string) error {
	if _, err := a.parse(a.flags(), args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	cfgs, err := c.ListConfigs(ctx)
	if err != nil {
		return err
	}
	return a.print(cfgs, func(w *tabwriter.Writer) { configTable(w, cfgs) })
}

func (a *adminCmd) jobRun(ctx context.Context, args []string) error {
	fs := a.flags()
	jobType := fs.String("type", "transfer", "transfer or preview")
	rest, err := a.parse(fs, args, "CONFIG")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	job, err := c.RunJob(ctx, rest[0], protocol.JobType(*jobType))
	if err != nil {
		return err
	}
	return a.print(job, func(w *tabwriter.Writer) { jobTable(w, []admin.Job{job}) })
}

func (a *adminCmd) jobCancel(ctx context.Context, args []string) error {
	rest, err := a.parse(a.flags(), args, "JOB_ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	job, err := c.CancelJob(ctx, rest[0])
	if err != nil {
		return err
	}
	return a.print(job, func(w *tabwriter.Writer) { jobTable(w, []admin.Job{job}) })
}

func (a *adminCmd) jobList(ctx context.Context, args []string) error {
	fs := a.flags()
	var opts admin.JobListOptions
	fs.StringVar(&opts.Config, "config", "", "only jobs of this configuration (ID or name)")
	fs.StringVar(&opts.Cluster, "cluster", "", "only jobs of this cluster (ID or name)")
	var states stringList
	fs.Var(&states, "state", "only jobs in these comma-separated states: queued, assigned, accepted, running, succeeded, failed, cancelled")
	jobType := fs.String("type", "", "only jobs of this type: transfer or preview")
	since := fs.String("since", "", "only jobs created at or after this RFC 3339 time, such as 2026-03-01T12:00:00Z")
	until := fs.String("until", "", "only jobs created before this RFC 3339 time")
	fs.IntVar(&opts.Limit, "limit", 50, "most jobs to list, 1 to 1000")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	for _, st := range states {
		opts.States = append(opts.States, protocol.JobState(st))
	}
	opts.Type = protocol.JobType(*jobType)
	for _, t := range []struct {
		flag, value string
		into        *time.Time
	}{{"since", *since, &opts.Since}, {"until", *until, &opts.Until}} {
		if t.value == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return usageError(a.stderr, "invalid --%s %q; use an RFC 3339 time such as 2026-03-01T12:00:00Z", t.flag, t.value)
		}
		*t.into = parsed
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	jobs, err := c.ListJobs(ctx, opts)
	if err != nil {
		return err
	}
	return a.print(jobs, func(w *tabwriter.Writer) { jobTable(w, jobs) })
}

func jobTable(w io.Writer, jobs []admin.Job) {
	fmt.Fprintln(w, "ID\tCONFIG\tTYPE\tSTATE\tREASON\tEPOCH\tROWS\tRUNNER\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", j.ID, j.ConfigName, j.Type, j.State, dash(j.Reason),
			j.Epoch, j.Rows, dash(j.RunnerID), j.CreatedAt.Format(time.RFC3339))
	}
}

func (a *adminCmd) jobShow(ctx context.Context, args []string) error {
	rest, err := a.parse(a.flags(), args, "JOB_ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	job, err := c.GetJob(ctx, rest[0])
	if err != nil {
		return err
	}
	return a.print(job, func(w *tabwriter.Writer) {
		field := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
		field("ID", job.ID)
		field("Config", job.ConfigName+" ("+job.ConfigID+")")
		field("Type", string(job.Type))
		field("State", string(job.State))
		field("Reason", dash(job.Reason))
		field("Message", dash(job.Message))
		field("Epoch", fmt.Sprintf("%d (attempts %d)", job.Epoch, job.Attempts))
		field("Runner", dash(job.RunnerID))
		field("Runner phase", dash(string(job.OperatorPhase)))
		field("Runner reason", dash(job.OperatorReason))
		field("Rows", fmt.Sprint(job.Rows))
		field("Bytes", fmt.Sprint(job.Bytes))
		field("Created", job.CreatedAt.Format(time.RFC3339))
		for _, t := range []struct {
			k string
			v *time.Time
		}{{"Assigned", job.AssignedAt}, {"Started", job.StartedAt}, {"Finished", job.FinishedAt}} {
			if t.v != nil {
				field(t.k, t.v.Format(time.RFC3339))
			}
		}
		if r := job.Result; r != nil {
			field("Result", fmt.Sprintf("succeeded=%v rows=%d bytes=%d duration=%.1fs", r.Succeeded, r.Rows, r.Bytes, r.DurationSeconds))
			if len(r.LastRecord) > 0 {
				field("Last record", string(r.LastRecord))
			}
			if r.Error != "" {
				field("Error", r.Error)
			}
		}
		if p := job.Preview; p != nil {
			names := make([]string, len(p.Columns))
			for i, col := range p.Columns {
				names[i] = col.Name + " " + col.Type
			}
			field("Preview columns", strings.Join(names, ", "))
			if p.RowsWithheld {
				field("Preview rows", "withheld by the runner")
			}
			for i, row := range p.Rows {
				values := make([]string, len(row))
				for k, v := range row {
					values[k] = string(v)
				}
				field(fmt.Sprintf("Row %d", i+1), strings.Join(values, ", "))
			}
		}
	})
}

func (a *adminCmd) jobLogs(ctx context.Context, args []string) error {
	fs := a.flags()
	follow := fs.Bool("follow", false, "keep printing new lines until the job ends")
	fs.BoolVar(follow, "f", false, "shorthand for --follow")
	rest, err := a.parse(fs, args, "JOB_ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var after int64
	for {
		page, err := c.JobLogs(ctx, rest[0], after, 1000)
		if err != nil {
			return err
		}
		for _, l := range page.Lines {
			if a.output == "json" {
				b, _ := json.Marshal(l)
				fmt.Fprintln(a.stdout, string(b))
				continue
			}
			fmt.Fprintf(a.stdout, "%s %-5s [%d] %s\n", l.Time.Format(time.RFC3339), dash(l.Level), l.Epoch, l.Message)
		}
		after = page.Next
		if len(page.Lines) == 1000 {
			continue
		}
		if !*follow || page.State.IsTerminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (a *adminCmd) runnerList(ctx context.Context, args []string) error {
	fs := a.flags()
	cluster := fs.String("cluster", "", "only runners of this cluster (ID or name)")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	runners, err := c.ListRunners(ctx, *cluster)
	if err != nil {
		return err
	}
	return a.print(runners, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tCLUSTER\tNAME\tSTATE\tRUNNING\tFREE\tMAX\tVERSION\tLAST HEARTBEAT")
		for _, r := range runners {
			last := "-"
			if r.LastHeartbeatAt != nil {
				last = r.LastHeartbeatAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.ClusterID, r.Name, r.State, r.RunningJobs,
				r.FreeSlots, r.MaxConcurrentJobs, dash(r.Version), last)
		}
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stringList is a comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// stringMap is a repeatable key=value flag value.
type stringMap map[string]string

func (m *stringMap) String() string {
	parts := make([]string, 0, len(*m))
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m *stringMap) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	if *m == nil {
		*m = stringMap{}
	}
	(*m)[k] = val
	return nil
}
