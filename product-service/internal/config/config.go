// Package config owns product-service's configuration: one typed struct read from the
// environment, with the original system's variable names (PORT, DATABASE_URL, REDIS_URL,
// RABBIT_URL, ORDERS_BASE, AMQP_EXCHANGE) and localhost defaults. Bad values fail at start with a
// message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopworks/shop/platform/dbx"
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
	CacheTTL        time.Duration
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	APIKeys         []string
	OrdersAPIKey    string
	RateLimitRPS    int
	ConsumerWorkers int
}

// Load reads the configuration through getenv (os.Getenv in production, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	e := env{get: getenv}
	c := Config{
		Port:            e.int("PORT", 3000),
		DBMaxOpenConns:  e.int("DB_MAX_OPEN_CONNS", 32),
		RedisURL:        e.str("REDIS_URL", "redis://127.0.0.1:6379"),
		RedisKeyPrefix:  e.str("REDIS_KEY_PREFIX", ""),
		RabbitURL:       e.str("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		Exchange:        e.str("AMQP_EXCHANGE", "orders"),
		QueuePrefix:     e.str("AMQP_QUEUE_PREFIX", ""),
		OrdersBaseURL:   strings.TrimRight(e.str("ORDERS_BASE", "http://127.0.0.1:4000"), "/"),
		OrdersTimeout:   e.duration("ORDERS_TIMEOUT", 2500*time.Millisecond),
		CacheTTL:        e.duration("CACHE_TTL", 60*time.Second),
		ShutdownTimeout: e.duration("HTTP_SHUTDOWN_TIMEOUT", 10*time.Second),
		APIKeys:         e.list("API_KEYS"),
		OrdersAPIKey:    e.str("ORDERS_API_KEY", ""),
		RateLimitRPS:    e.int("RATE_LIMIT_RPS", 0),
		ConsumerWorkers: e.int("CONSUMER_WORKERS", 8),
	}
	dsn, err := dbx.URLToDSN(e.str("DATABASE_URL", "mysql://product:product@127.0.0.1:3306/productdb"))
	if err != nil {
		e.errs = append(e.errs, "DATABASE_URL: "+err.Error())
	}
	c.MySQLDSN = dsn
	if err := c.LogLevel.UnmarshalText([]byte(e.str("LOG_LEVEL", "info"))); err != nil {
		e.errs = append(e.errs, "LOG_LEVEL: want debug, info, warn or error")
	}
	if _, err := url.ParseRequestURI(c.OrdersBaseURL); err != nil {
		e.errs = append(e.errs, "ORDERS_BASE: "+err.Error())
	}
	if c.Port < 1 || c.Port > 65535 {
		e.errs = append(e.errs, "PORT: must be 1..65535")
	}
	if c.DBMaxOpenConns < 2 {
		e.errs = append(e.errs, "DB_MAX_OPEN_CONNS: must be at least 2 (the outbox relay needs two)")
	}
	if c.ConsumerWorkers < 1 {
		e.errs = append(e.errs, "CONSUMER_WORKERS: must be at least 1")
	}
	if len(e.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration: %s", strings.Join(e.errs, "; "))
	}
	return c, nil
}

// LogValue prints the configuration once at start with secrets masked.
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
		slog.Duration("cacheTTL", c.CacheTTL),
		slog.Int("apiKeys", len(c.APIKeys)),
		slog.Int("rateLimitRPS", c.RateLimitRPS),
	)
}

// OrderCreatedQueue is the durable queue product-service consumes order.created from.
func (c Config) OrderCreatedQueue() string { return c.QueuePrefix + "product-service__order-created" }

type env struct {
	get  func(string) string
	errs []string
}

func (e *env) str(key, def string) string {
	if v := strings.TrimSpace(e.get(key)); v != "" {
		return v
	}
	return def
}

func (e *env) int(key string, def int) int {
	v := e.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, key+": not an integer")
		return def
	}
	return n
}

func (e *env) duration(key string, def time.Duration) time.Duration {
	v := e.str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, key+": want a positive duration such as 2s")
		return def
	}
	return d
}

func (e *env) list(key string) []string {
	var out []string
	for _, s := range strings.Split(e.str(key, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
