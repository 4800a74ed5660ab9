// Package config owns order-service's configuration: one typed struct read from the environment,
// with the original service's variable names and localhost defaults.
//
// Original names: PORT, MYSQL_DSN, REDIS_URL, RABBIT_URL, PRODUCT_BASE_URL, AMQP_EXCHANGE are used
// as before; RABBIT_EXCHANGE (the original Go order-service's name) is read when AMQP_EXCHANGE is
// unset, and the two set to different values is an error. AMQP_ROUTING_KEY_ORDER_CREATED (default order.created) names the routing key of the
// order events. AMQP_QUEUE_ORDER_CREATED and AMQP_CONSUMER_TAG named the original logging consumer
// of order.created; nothing in order-service consumes order.created any more (product-service
// does), so they are accepted and ignored. Bad values fail at start naming the variable.
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

// Config is everything order-service reads from its environment.
type Config struct {
	Port               int
	MySQLDSN           string
	DBMaxOpenConns     int
	RedisURL           string
	RedisKeyPrefix     string
	RabbitURL          string
	Exchange           string
	QueuePrefix        string
	ProductBaseURL     string
	ProductTimeout     time.Duration
	WriteTimeout       time.Duration
	ProductAPIKey      string
	PriceFreshFor      time.Duration
	PriceMaxStale      time.Duration
	PriceCacheSize     int
	CacheTTL           time.Duration
	IdempotencyKeyTTL  time.Duration
	OutboxLinger       time.Duration
	PprofAddr          string // host:port of the pprof listener; empty = off
	AccessLog          telemetry.AccessLogConfig
	Tracing            tracing.Config // OpenTelemetry: the OTEL_* variables (off unless an OTLP endpoint is set)
	LogLevel           slog.Level
	ShutdownTimeout    time.Duration
	APIKeys            []string
	RateLimitRPS       int
	MaxInFlight        int
	MaxQueueWait       time.Duration
	ConsumerWorkers    int
	WriteBatchMax      int
	WriteBatchWorkers  int
	IgnoredLegacyQueue string
	IgnoredConsumerTag string
}

// Load reads the configuration through getenv.
func Load(getenv func(string) string) (Config, error) {
	e := envcfg.New(getenv)
	c := Config{
		Port:               e.Int("PORT", 4000),
		MySQLDSN:           e.Str("MYSQL_DSN", "order:order@tcp(127.0.0.1:3306)/orderdb?parseTime=true"),
		DBMaxOpenConns:     e.Int("DB_MAX_OPEN_CONNS", 32),
		RedisURL:           e.Str("REDIS_URL", "redis://127.0.0.1:6379"),
		RedisKeyPrefix:     e.Str("REDIS_KEY_PREFIX", ""),
		RabbitURL:          e.Str("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		Exchange:           e.Alias(events.DefaultExchange, "AMQP_EXCHANGE", "RABBIT_EXCHANGE"), // RABBIT_EXCHANGE: the original Go order-service's name
		QueuePrefix:        e.Str("AMQP_QUEUE_PREFIX", ""),
		ProductBaseURL:     strings.TrimRight(e.Str("PRODUCT_BASE_URL", "http://127.0.0.1:3000"), "/"),
		ProductTimeout:     e.Duration("PRODUCT_TIMEOUT", 2*time.Second),
		WriteTimeout:       e.Duration("WRITE_TIMEOUT", 2*time.Second),
		ProductAPIKey:      e.Str("PRODUCT_API_KEY", ""),
		PriceFreshFor:      e.Duration("PRICE_CACHE_FRESH", 30*time.Second),
		PriceMaxStale:      e.Duration("PRICE_CACHE_MAX_STALE", 5*time.Minute),
		PriceCacheSize:     e.Int("PRICE_CACHE_SIZE", 10000),
		CacheTTL:           e.Duration("CACHE_TTL", 60*time.Second),
		IdempotencyKeyTTL:  e.Duration("IDEMPOTENCY_KEY_TTL", 24*time.Hour),
		OutboxLinger:       e.DurationOrZero("OUTBOX_LINGER", 25*time.Millisecond),
		PprofAddr:          e.Str("PPROF_ADDR", ""),
		AccessLog:          telemetry.AccessLogConfig{Slow: e.Duration("ACCESS_LOG_SLOW", telemetry.DefaultSlowRequest)},
		Tracing:            tracing.Load(e),
		ShutdownTimeout:    e.Duration("HTTP_SHUTDOWN_TIMEOUT", 10*time.Second),
		APIKeys:            e.List("API_KEYS"),
		RateLimitRPS:       e.Int("RATE_LIMIT_RPS", 0),
		MaxInFlight:        e.Int("MAX_IN_FLIGHT", 128),
		MaxQueueWait:       e.Duration("MAX_QUEUE_WAIT", 100*time.Millisecond),
		ConsumerWorkers:    e.Int("CONSUMER_WORKERS", 32),
		WriteBatchMax:      e.Int("WRITE_BATCH_MAX", 128),
		WriteBatchWorkers:  e.Int("WRITE_BATCH_WORKERS", 1),
		IgnoredLegacyQueue: e.Str("AMQP_QUEUE_ORDER_CREATED", ""),
		IgnoredConsumerTag: e.Str("AMQP_CONSUMER_TAG", ""),
	}
	if err := c.LogLevel.UnmarshalText([]byte(e.Str("LOG_LEVEL", "info"))); err != nil {
		e.Fail("LOG_LEVEL", "want debug, info, warn or error")
	}
	if mode, err := telemetry.ParseAccessLogMode(e.Str("ACCESS_LOG", "errors")); err != nil {
		e.Fail("ACCESS_LOG", err.Error())
	} else {
		c.AccessLog.Mode = mode
	}
	if _, err := url.ParseRequestURI(c.ProductBaseURL); err != nil {
		e.Fail("PRODUCT_BASE_URL", err.Error())
	}
	if dsn, err := dbx.URLToDSN(c.MySQLDSN); err != nil {
		e.Fail("MYSQL_DSN", err.Error())
	} else {
		c.MySQLDSN = dsn
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
	if c.DBMaxOpenConns < 2 {
		e.Fail("DB_MAX_OPEN_CONNS", "must be at least 2 (the outbox relay needs two)")
	}
	if c.PriceCacheSize < 1 {
		e.Fail("PRICE_CACHE_SIZE", "must be at least 1")
	}
	if c.IdempotencyKeyTTL < 24*time.Hour {
		e.Fail("IDEMPOTENCY_KEY_TTL", "must be at least 24h")
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
	// The original let the routing key be configured; the event contract fixes it, and
	// product-service binds only that key: any other value would lose every order.
	if key := e.Str("AMQP_ROUTING_KEY_ORDER_CREATED", events.KeyOrderCreated); key != events.KeyOrderCreated {
		e.Fail("AMQP_ROUTING_KEY_ORDER_CREATED", "the event contract fixes it to "+events.KeyOrderCreated+" (product-service binds only that key)")
	}
	if c.ConsumerWorkers < 1 {
		e.Fail("CONSUMER_WORKERS", "must be at least 1")
	}
	if c.WriteBatchMax < 1 || c.WriteBatchMax > 1000 {
		e.Fail("WRITE_BATCH_MAX", "must be 1..1000")
	}
	if c.WriteBatchWorkers < 1 || c.WriteBatchWorkers > c.DBMaxOpenConns/2 {
		e.Fail("WRITE_BATCH_WORKERS", "must be 1..DB_MAX_OPEN_CONNS/2")
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LogValue prints the configuration once at start, every field, durations in human units (the
// logger writes them so) and secrets masked: passwords in DSNs and URLs, API keys only counted.
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
		slog.String("productBase", c.ProductBaseURL),
		slog.Duration("productTimeout", c.ProductTimeout),
		slog.Bool("productApiKeySet", c.ProductAPIKey != ""),
		slog.Duration("priceFresh", c.PriceFreshFor),
		slog.Duration("priceMaxStale", c.PriceMaxStale),
		slog.Duration("writeTimeout", c.WriteTimeout),
		slog.Int("priceCacheSize", c.PriceCacheSize),
		slog.Duration("cacheTtl", c.CacheTTL),
		slog.Duration("idempotencyKeyTtl", c.IdempotencyKeyTTL),
		slog.Duration("outboxLinger", c.OutboxLinger),
		slog.Duration("maxQueueWait", c.MaxQueueWait),
		slog.Int("consumerWorkers", c.ConsumerWorkers),
		slog.Int("writeBatchMax", c.WriteBatchMax),
		slog.Int("writeBatchWorkers", c.WriteBatchWorkers),
		slog.Int("apiKeys", len(c.APIKeys)),
		slog.Int("rateLimitRps", c.RateLimitRPS),
		slog.Int("maxInFlight", c.MaxInFlight),
		slog.Duration("shutdownTimeout", c.ShutdownTimeout),
		slog.String("logLevel", c.LogLevel.String()),
		slog.String("accessLog", c.AccessLog.Mode.String()),
		slog.Duration("accessLogSlow", c.AccessLog.Slow),
		slog.String("pprofAddr", c.PprofAddr),
		slog.String("tracing", c.Tracing.String()),
	)
}

// StockResultsQueue is the durable queue of stock.reserved / stock.rejected.
func (c Config) StockResultsQueue() string { return c.QueuePrefix + events.QueueStockResults }

// ProductChangesDLQ is where the per-replica product.* queues dead-letter, shared by the replicas.
func (c Config) ProductChangesDLQ() string { return c.QueuePrefix + events.QueueProductChangesDLQ }

// OrderCreatedQueue is product-service's queue, declared here too so that an order.created
// published before product-service ever started is kept, not dropped as unroutable.
func (c Config) OrderCreatedQueue() string { return c.QueuePrefix + events.QueueOrderCreated }
