// Package boot owns the start of a service's infrastructure, the same for both services: apply
// the migrations, open the MySQL pool, the Redis client and the RabbitMQ connection, and create
// the Prometheus registry with Go, process and DB-pool collectors. Close releases all of it.
package boot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/redisx"
)

// Config names what to open.
type Config struct {
	Service    string // connection and metrics name, e.g. "product-service"
	Database   string // label of the DB pool metrics, e.g. "productdb"
	MySQLDSN   string
	MaxOpen    int
	Migrate    func(dsn string) error
	RedisURL   string
	RabbitURL  string
	Exchange   string
	DialBudget time.Duration // how long to wait for RabbitMQ at start (default 30 s)
	// MustRoute names the routing keys published mandatory (see amqpx.Config.MustRoute).
	MustRoute func(routingKey string) bool
	// TracerProvider traces the consumers' deliveries (nil: tracing off).
	TracerProvider trace.TracerProvider
}

// Deps are the opened connections.
type Deps struct {
	DB       *sql.DB
	Redis    *redis.Client
	AMQP     *amqpx.Conn
	Registry *prometheus.Registry
}

// Open applies the migrations and opens everything; on error, what was opened is closed.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Deps, error) {
	if err := cfg.Migrate(cfg.MySQLDSN); err != nil {
		return nil, err
	}
	d := &Deps{Registry: prometheus.NewRegistry()}
	var err error
	if d.DB, err = dbx.Open(ctx, cfg.MySQLDSN, dbx.PoolConfig{MaxOpen: cfg.MaxOpen}); err != nil {
		return nil, err
	}
	redisx.RouteLogs(log)
	if d.Redis, err = redisx.Open(cfg.RedisURL, log); err != nil {
		_ = d.Close()
		return nil, err
	}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(d.DB, cfg.Database))
	budget := cfg.DialBudget
	if budget <= 0 {
		budget = 30 * time.Second
	}
	dialCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if d.AMQP, err = amqpx.Dial(dialCtx, amqpx.Config{URL: cfg.RabbitURL, Exchange: cfg.Exchange, ConnectionName: cfg.Service,
		MustRoute: cfg.MustRoute, TracerProvider: cfg.TracerProvider}, log, d.Registry); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("connect to RabbitMQ: %w", err)
	}
	return d, nil
}

// Close releases everything Open opened.
func (d *Deps) Close() error {
	var errs []error
	if d.AMQP != nil {
		errs = append(errs, d.AMQP.Close())
	}
	if d.Redis != nil {
		errs = append(errs, d.Redis.Close())
	}
	if d.DB != nil {
		errs = append(errs, d.DB.Close())
	}
	return errors.Join(errs...)
}
