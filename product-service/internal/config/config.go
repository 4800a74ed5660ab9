// Package config owns product-service's configuration: one typed struct read from the
// environment, with the original system's variable names (PORT, DATABASE_URL, REDIS_URL,
// RABBIT_URL, ORDERS_BASE, AMQP_EXCHANGE — or RABBIT_EXCHANGE, the original Go order-service's
// name for it, when AMQP_EXCHANGE is unset; both set to different values is an error) and
// localhost defaults. Bad values fail at start with a message that names the variable.
package config

import (
	"github.com/shopworks/shop/clients/events"

	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/envcfg"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/tracing"
)

// Config is everything product-service reads from its environment.
type Config struct {
	Port            int
	MySQLDSN        string // go-sql-driver DSN (DATABASE_URL may be mysql://… or a DSN)
	DBMaxOpenConns  int
	RedisURL        string
	RedisKeyPrefix  string
	RabbitURL       string
	Exchange        string
	QueuePrefix     string
	OrdersBaseURL   string
	OrdersTimeout   time.Duration
	WriteTimeout    time.Duration
	CacheTTL        time.Duration
	LocalCacheTTL   time.Duration
	LocalCacheSize  int
	OutboxLinger    time.Duration
	PprofAddr       string // host:port of the pprof listener; empty = off
	AccessLog       telemetry.AccessLogConfig
	Tracing         tracing.Config // OpenTelemetry: the OTEL_* variables (off unless an OTLP endpoint is set)
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	APIKeys         []string
	OrdersAPIKey    string
	RateLimitRPS    int
	MaxInFlight     int
	MaxQueueWait    time.Duration
	ConsumerWorkers int
}

// Load reads the configuration through getenv (os.Getenv in production, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	e := envcfg.New(getenv)
	c := Config{
		Port:            e.Int("PORT", 3000),
		DBMaxOpenConns:  e.Int("DB_MAX_OPEN_CONNS", 32),
		RedisURL:        e.Str("REDIS_URL", "redis://127.0.0.1:6379"),
		RedisKeyPrefix:  e.Str("REDIS_KEY_PREFIX", ""),
		RabbitURL:       e.Str("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		Exchange:        e.Alias(events.DefaultExchange, "AMQP_EXCHANGE", "RABBIT_EXCHANGE"), // RABBIT_EXCHANGE: the original Go order-service's name
		QueuePrefix:     e.Str("AMQP_QUEUE_PREFIX", ""),
		OrdersBaseURL:   strings.TrimRight(e.Str("ORDERS_BASE", "http://127.0.0.1:4000"), "/"),
		OrdersTimeout:   e.Duration("ORDERS_TIMEOUT", 2500*time.Millisecond),
		WriteTimeout:    e.Duration("WRITE_TIMEOUT", 2*time.Second),
		CacheTTL:        e.Duration("CACHE_TTL", 60*time.Second),
		LocalCacheTTL:   e.DurationOrZero("LOCAL_CACHE_TTL", 500*time.Millisecond),
		LocalCacheSize:  e.Int("LOCAL_CACHE_SIZE", 10000),
		OutboxLinger:    e.DurationOrZero("OUTBOX_LINGER", 25*time.Millisecond),
		PprofAddr:       e.Str("PPROF_ADDR", ""),
		AccessLog:       telemetry.AccessLogConfig{Slow: e.Duration("ACCESS_LOG_SLOW", telemetry.DefaultSlowRequest)},
		Tracing:         tracing.Load(e),
		ShutdownTimeout: e.Duration("HTTP_SHUTDOWN_TIMEOUT", 10*time.Second),
		APIKeys:         e.List("API_KEYS"),
		OrdersAPIKey:    e.Str("ORDERS_API_KEY", ""),
		RateLimitRPS:    e.Int("RATE_LIMIT_RPS", 0),
		MaxInFlight:     e.Int("MAX_IN_FLIGHT", 128),
		MaxQueueWait:    e.Duration("MAX_QUEUE_WAIT", 100*time.Millisecond),
		ConsumerWorkers: e.Int("CONSUMER_WORKERS", 32),
	}
	dsn, err := dbx.URLToDSN(e.Str("DATABASE_URL", "mysql://product:product@127.0.0.1:3306/productdb"))
	if err != nil {
		e.Fail("DATABASE_URL", err.Error())
	}
	c.MySQLDSN = dsn
	if err := c.LogLevel.UnmarshalText([]byte(e.Str("LOG_LEVEL", "info"))); err != nil {
		e.Fail("LOG_LEVEL", "want debug, info, warn or error")
	}
	if mode, err := telemetry.ParseAccessLogMode(e.Str("ACCESS_LOG", "errors")); err != nil {
		e.Fail("ACCESS_LOG", err.Error())
	} else {
		c.AccessLog.Mode = mode
	}
	if _, err := url.ParseRequestURI(c.OrdersBaseURL); err != nil {
		e.Fail("ORDERS_BASE", err.Error())
	}
	if c.Port < 1 || c.Port > 65535 {
		e.Fail("PORT", "must be 1..65535")
	}
	if c.OutboxLinger < 0 || c.OutboxLinger > time.Second {
		e.Fail("OUTBOX_LINGER", "must be 0 (off) up to 1s")
	}
	if _, _, err := net.SplitHostPort(c.PprofAddr); c.PprofAddr != "" && err != nil {
		e.Fail("PPROF_ADDR", "want host:port, e.g. 127.0.0.1:6060 (empty = off)")
	}
	if c.LocalCacheTTL < 0 || c.LocalCacheTTL > c.CacheTTL {
		e.Fail("LOCAL_CACHE_TTL", "must be 0 (off) up to CACHE_TTL")
	}
	if c.LocalCacheSize < 1 {
		e.Fail("LOCAL_CACHE_SIZE", "must be at least 1")
	}
	if c.DBMaxOpenConns < 2 {
		e.Fail("DB_MAX_OPEN_CONNS", "must be at least 2 (the outbox relay needs two)")
	}
	if c.WriteTimeout < 100*time.Millisecond || c.WriteTimeout > time.Minute {
		e.Fail("WRITE_TIMEOUT", "must be 100ms..1m")
	}
	if c.MaxInFlight < 0 {
		e.Fail("MAX_IN_FLIGHT", "must be 0 (no shedding) or more")
	}
	if c.MaxQueueWait < 0 || c.MaxQueueWait > 10*time.Second {
		e.Fail("MAX_QUEUE_WAIT", "must be 0s..10s")
	}
	if c.ConsumerWorkers < 1 {
		e.Fail("CONSUMER_WORKERS", "must be at least 1")
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogValue prints the configuration once at start, every field, durations in human units (the
// logger writes them so) and secrets masked: passwords in URLs, API keys only counted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.String("mysql", dbx.Redact(c.MySQLDSN)),
		slog.Int("dbMaxOpenConns", c.DBMaxOpenConns),
		slog.String("redis", dbx.Redact(c.RedisURL)),
		slog.String("redisKeyPrefix", c.RedisKeyPrefix),
		slog.String("rabbit", dbx.Redact(c.RabbitURL)),
		slog.String("exchange", c.Exchange),
		slog.String("queuePrefix", c.QueuePrefix),
		slog.String("ordersBase", c.OrdersBaseURL),
		slog.Duration("ordersTimeout", c.OrdersTimeout),
		slog.Duration("writeTimeout", c.WriteTimeout),
		slog.Bool("ordersApiKeySet", c.OrdersAPIKey != ""),
		slog.Duration("cacheTtl", c.CacheTTL),
		slog.Duration("localCacheTtl", c.LocalCacheTTL),
		slog.Int("localCacheSize", c.LocalCacheSize),
		slog.Duration("outboxLinger", c.OutboxLinger),
		slog.Int("consumerWorkers", c.ConsumerWorkers),
		slog.Int("apiKeys", len(c.APIKeys)),
		slog.Int("rateLimitRps", c.RateLimitRPS),
		slog.Int("maxInFlight", c.MaxInFlight),
		slog.Duration("maxQueueWait", c.MaxQueueWait),
		slog.Duration("shutdownTimeout", c.ShutdownTimeout),
		slog.String("logLevel", c.LogLevel.String()),
		slog.String("accessLog", c.AccessLog.Mode.String()),
		slog.Duration("accessLogSlow", c.AccessLog.Slow),
		slog.String("pprofAddr", c.PprofAddr),
		slog.String("tracing", c.Tracing.String()),
	)
}

// OrderCreatedQueue is the durable queue product-service consumes order.created from.
func (c Config) OrderCreatedQueue() string { return c.QueuePrefix + events.QueueOrderCreated }
