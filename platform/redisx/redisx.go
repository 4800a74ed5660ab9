// Package redisx owns how the services connect to Redis: short dial, read and write timeouts and a
// circuit breaker on every command, so that a refusing or frozen Redis costs a caller one short
// timeout at most and then nothing: while the breaker is open, commands fail at once with
// ErrUnavailable (callers fall back to MySQL), and one probe per OpenFor tells when Redis is back.
package redisx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Timeout bounds each command; DialTimeout a new connection (dialing is rarer and slower).
const (
	Timeout     = 200 * time.Millisecond
	DialTimeout = 500 * time.Millisecond
)

// Breaker defaults: this many consecutive failures open it; it stays open this long before one
// probe may go through.
const (
	TripAfter = 3
	OpenFor   = 500 * time.Millisecond
)

// ErrUnavailable is the error of every command while the breaker is open.
var ErrUnavailable = errors.New("redis unavailable (circuit open)")

// Open returns a client for url (redis://host:port/db) with the breaker installed; state changes
// are logged on log.
func Open(url string, log *slog.Logger) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = DialTimeout, Timeout, Timeout
	opts.ContextTimeoutEnabled = true // a caller's shorter deadline is honoured too
	opts.PoolSize = 64
	opts.MaxRetries = -1   // a failed command is not retried: the caller falls back instead of waiting
	opts.DialerRetries = 1 // nor a failed dial (the default, 5 tries 100 ms apart, costs half a second)
	c := redis.NewClient(opts)
	c.AddHook(newBreakerHook(opts.Addr, log))
	return c, nil
}

// breakerHook runs every command and pipeline through one circuit breaker per client.
type breakerHook struct {
	cb *gobreaker.CircuitBreaker[struct{}]
}

func newBreakerHook(addr string, log *slog.Logger) breakerHook {
	return breakerHook{cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis " + addr,
		MaxRequests: 1,
		Interval:    10 * time.Second,
		Timeout:     OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= TripAfter },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				log.Warn("redis unreachable; bypassing it", slog.String("breaker", name), slog.String("from", from.String()))
			} else if to == gobreaker.StateClosed {
				log.Info("redis reachable again", slog.String("breaker", name))
			}
		},
	})}
}

// failure says whether err means Redis could not be reached or did not answer in time; a reply
// from Redis (including redis.Nil and errors the server sent) is not one, nor a caller giving up.
func failure(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	return !errors.As(err, &re)
}

func (h breakerHook) run(call func() error) error {
	var callErr error
	_, err := h.cb.Execute(func() (struct{}, error) {
		callErr = call()
		if failure(callErr) {
			return struct{}{}, callErr
		}
		return struct{}{}, nil
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ErrUnavailable
	}
	return callErr
}

func (h breakerHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// handshake are the commands go-redis sends itself while initialising a new connection, through
// the same hooks: they run inside a command the breaker already admitted, which counts for them.
var handshake = map[string]bool{"hello": true, "auth": true, "client": true, "select": true, "readonly": true}

func (h breakerHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake[cmd.Name()] {
			return next(ctx, cmd)
		}
		err := h.run(func() error { return next(ctx, cmd) })
		if errors.Is(err, ErrUnavailable) {
			cmd.SetErr(err)
		}
		return err
	}
}

func (h breakerHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && handshake[cmds[0].Name()] {
			return next(ctx, cmds)
		}
		err := h.run(func() error { return next(ctx, cmds) })
		if errors.Is(err, ErrUnavailable) {
			for _, c := range cmds {
				c.SetErr(err)
			}
		}
		return err
	}
}

// RouteLogs sends go-redis's own log lines (e.g. failed dials, which the breaker already reports
// as state changes) to log at debug level instead of stderr. It sets the library's process-wide
// logger: call it once at start.
func RouteLogs(log *slog.Logger) { redis.SetLogger(redisLog{log}) }

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
