// Command controlplane is Ferry's reference control plane: `controlplane
// serve` runs the server, and the other subcommands call its admin API.
//
// Run `controlplane help` for the list of subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: controlplane <command> [flags]

Server:
  serve                         run the control plane
  gen-key                       print a new encryption key for connection passwords

Admin API (flags --server, --admin-token and -o on every command):
  cluster create NAME           create a cluster
  cluster list                  list clusters
  token create --cluster C      create a registration token (shown once)
  token list --cluster C        list a cluster's registration tokens
  token revoke --cluster C ID   revoke a registration token
  connection create [flags]     create a connection (see: connection create -h)
  connection update C [flags]   change a connection's settings (see: connection update -h)
  connection list               list connections
  config create [flags]         create a transfer configuration (see: config create -h)
  config list                   list transfer configurations
  job run CONFIG [--type T]     queue a transfer or preview job
  job cancel ID                 cancel a job
  job list [flags]              list jobs, newest first (filters: see job list -h)
  job show ID                   show a job with its result or preview
  job logs ID [--follow]        print a job's log lines
  runner list [--cluster C]     list runners

Environment: FERRY_SERVER (default http://127.0.0.1:8080), FERRY_ADMIN_TOKEN,
FERRY_ENCRYPTION_KEY.
`

// errUsage marks an error whose message already explains the usage.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

// commandGroups are the first words of the admin API commands.
var commandGroups = map[string]bool{
	"cluster": true, "token": true, "connection": true, "config": true, "job": true, "runner": true,
}

// run executes one command line; main and the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "gen-key":
		return runGenKey(stdout)
	}
	if !commandGroups[cmd] {
		return usageError(stderr, "unknown command %q; run `controlplane help` for the list", cmd)
	}
	if len(rest) == 0 {
		return usageError(stderr, "%s needs a subcommand; run `controlplane help` for the list", cmd)
	}
	sub, rest := rest[0], rest[1:]
	a := &adminCmd{stdout: stdout, stderr: stderr, name: cmd + " " + sub}
	switch cmd + " " + sub {
	case "cluster create":
		return a.clusterCreate(ctx, rest)
	case "cluster list":
		return a.clusterList(ctx, rest)
	case "token create":
		return a.tokenCreate(ctx, rest)
	case "token list":
		return a.tokenList(ctx, rest)
	case "token revoke":
		return a.tokenRevoke(ctx, rest)
	case "connection create":
		return a.connectionCreate(ctx, rest)
	case "connection update":
		return a.connectionUpdate(ctx, rest)
	case "connection list":
		return a.connectionList(ctx, rest)
	case "config create":
		return a.configCreate(ctx, rest)
	case "config list":
		return a.configList(ctx, rest)
	case "job run":
		return a.jobRun(ctx, rest)
	case "job cancel":
		return a.jobCancel(ctx, rest)
	case "job list":
		return a.jobList(ctx, rest)
	case "job show":
		return a.jobShow(ctx, rest)
	case "job logs":
		return a.jobLogs(ctx, rest)
	case "runner list":
		return a.runnerList(ctx, rest)
	}
	return usageError(stderr, "unknown command %q; run `controlplane help`", cmd+" "+sub)
}

func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, "controlplane: "+format+"\n", args...)
	return errUsage
}
