package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
	"github.com/ferryhq/ferry/controlplane/secrets"
	"github.com/ferryhq/ferry/controlplane/server"
	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/controlplane/web"
)

func runGenKey(stdout io.Writer) error {
	key, err := secrets.NewKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on, host:port")
	dsn := fs.String("db", "sqlite://ferry.db", "database: sqlite:///abs/path.db, sqlite://rel/path.db or postgres://user:pass@host/db")
	adminTokenFile := fs.String("admin-token-file", "", "file holding the admin API token (default: environment FERRY_ADMIN_TOKEN)")
	keyFile := fs.String("encryption-key-file", "", "file holding the base64 32-byte key that encrypts connection passwords (default: environment FERRY_ENCRYPTION_KEY)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	lease := fs.Duration("lease", server.DefaultLeaseDuration, "time a runner has to acknowledge an assignment")
	maxAttempts := fs.Int("max-attempts", server.DefaultMaxAttempts, "assignments of a job before an expired lease fails it")
	webUI := fs.Bool("web", true, "serve the web UI at / (sign in with the admin token)")
	publicURL := fs.String("public-url", "", "URL runners use to reach the control plane, shown in the web UI's install commands (default: the scheme and host of the browser's request)")
	var trustedProxies listFlag
	fs.Var(&trustedProxies, "trusted-proxy", "reverse proxy in front of the web UI, as a CIDR prefix or an IP address; repeat it or separate values with commas. Requests from these addresses take the client address from X-Forwarded-For for the sign-in limit and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}

	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	adminToken, err := readSecret(*adminTokenFile, "FERRY_ADMIN_TOKEN",
		"no admin token: set FERRY_ADMIN_TOKEN or pass --admin-token-file with a long random string (for example the output of `controlplane gen-key`)")
	if err != nil {
		return err
	}
	keyText, err := readSecret(*keyFile, "FERRY_ENCRYPTION_KEY",
		"no encryption key for connection passwords: run `controlplane gen-key` and set FERRY_ENCRYPTION_KEY or pass --encryption-key-file; keep the key, because stored passwords cannot be read without it")
	if err != nil {
		return err
	}
	key, err := secrets.ParseKey(keyText)
	if err != nil {
		return err
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		return err
	}

	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := server.CheckEncryptionKey(ctx, db, sealer); err != nil {
		if errors.Is(err, server.ErrWrongEncryptionKey) {
			return fmt.Errorf("wrong encryption key in %s: %w; start with the key the database was created with",
				keySource(*keyFile), err)
		}
		return err
	}
	srv, err := server.New(server.Options{Store: db, Sealer: sealer, AdminToken: adminToken, Logger: logger,
		LeaseDuration: *lease, MaxAttempts: *maxAttempts})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", *listen, err)
	}
	handler := srv.Handler()
	var ui *web.UI
	if *webUI {
		ui, err = web.New(web.Options{API: admin.NewHandlerClient(handler, adminToken), AdminToken: adminToken, Logger: logger,
			PublicURL: *publicURL, TrustedProxies: trustedProxies})
		if err != nil {
			_ = ln.Close()
			return err
		}
		handler = ui.Mount(handler)
	}
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("Control plane listening", "address", ln.Addr().String(), "database", string(db.Dialect()))

	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Run(runCtx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()

	select {
	case <-ctx.Done():
		logger.Info("Control plane stopping")
	case err = <-serveErr:
	}
	srv.Close()
	if ui != nil {
		// Live pages keep their streams open; Shutdown would wait for them.
		ui.Close()
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelShutdown()
	_ = httpServer.Shutdown(shutdownCtx)
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("HTTP server failed: %w", err)
	}
	logger.Info("Control plane stopped")
	return nil
}

// keySource names where the encryption key came from, for error messages.
func keySource(file string) string {
	if file != "" {
		return "--encryption-key-file " + file
	}
	return "environment variable FERRY_ENCRYPTION_KEY"
}

// readSecret reads a secret from a file (one trailing newline removed) or
// from an environment variable.
func readSecret(file, env, missing string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("failed to read %s: %w", file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty; %s", file, missing)
		}
		return v, nil
	}
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	return "", errors.New(missing)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q; use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q; use text or json", format)
}

// listFlag is a flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(value string) error {
	for v := range strings.SplitSeq(value, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}
