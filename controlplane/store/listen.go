package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen calls fn for every notification on the wake-up channel until ctx
// ends. It holds its own PostgreSQL connection and reconnects after a
// failure, waiting up to 5 s between tries; a wake-up sent while it is
// disconnected is lost, which costs a waiting heartbeat at most its
// long-poll bound.
func (s *DB) Listen(ctx context.Context, fn func(key string)) error {
	if s.dialect != Postgres {
		<-ctx.Done()
		return nil
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

func (s *DB) listenOnce(ctx context.Context, fn func(key string)) error {
	conn, err := pgx.Connect(ctx, s.pgDSN)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Tell the caller to re-check everything: wake-ups sent while this
	// connection was down are lost.
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
