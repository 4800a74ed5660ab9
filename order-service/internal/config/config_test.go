package config_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/config"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/testkit"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAndSeedNames(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, 4000, c.Port)
	assert.Equal(t, "http://127.0.0.1:3000", c.ProductBaseURL)
	assert.Equal(t, "order-service__stock-results", c.StockResultsQueue())
	assert.Equal(t, "product-service__order-created", c.OrderCreatedQueue())
	assert.Equal(t, 24*time.Hour, c.IdempotencyKeyTTL)

	c, err = config.Load(getenv(map[string]string{
		"MYSQL_DSN":        "app:secret@tcp(mysql:3306)/appdb?parseTime=true&loc=UTC&timeout=5s&interpolateParams=true",
		"PRODUCT_BASE_URL": "http://product-service:3000", "AMQP_QUEUE_ORDER_CREATED": "order-service__logger",
		"AMQP_CONSUMER_TAG": "order-service-logger", "AMQP_ROUTING_KEY_ORDER_CREATED": "order.created",
	}))
	require.NoError(t, err)
	assert.Contains(t, c.MySQLDSN, "tcp(mysql:3306)/appdb")
	assert.NotContains(t, slog.AnyValue(c).Resolve().String(), "secret")
}

func TestBadValuesFail(t *testing.T) {
	_, err := config.Load(getenv(map[string]string{"PORT": "0", "PRICE_CACHE_SIZE": "0", "IDEMPOTENCY_KEY_TTL": "1h", "PRODUCT_BASE_URL": "::",
		"LOG_LEVEL": "loud", "MYSQL_DSN": "mysql://u:p@db-host", "DB_MAX_OPEN_CONNS": "1", "CONSUMER_WORKERS": "0", "WRITE_BATCH_MAX": "5000", "WRITE_BATCH_WORKERS": "0",
		"AMQP_ROUTING_KEY_ORDER_CREATED": "orders.new", "WRITE_TIMEOUT": "1ms", "MAX_IN_FLIGHT": "-1", "MAX_QUEUE_WAIT": "1m"}))
	require.Error(t, err)
	for _, v := range []string{"PORT", "PRICE_CACHE_SIZE", "IDEMPOTENCY_KEY_TTL", "PRODUCT_BASE_URL", "LOG_LEVEL", "MYSQL_DSN",
		"DB_MAX_OPEN_CONNS", "CONSUMER_WORKERS", "WRITE_BATCH_MAX", "WRITE_BATCH_WORKERS", "AMQP_ROUTING_KEY_ORDER_CREATED", "WRITE_TIMEOUT",
		"MAX_IN_FLIGHT", "MAX_QUEUE_WAIT"} {
		assert.Contains(t, err.Error(), v)
	}
}

func TestGroupCommitSettings(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, 128, c.WriteBatchMax)
	assert.Equal(t, 1, c.WriteBatchWorkers)
	c, err = config.Load(getenv(map[string]string{"WRITE_BATCH_MAX": "16", "WRITE_BATCH_WORKERS": "4"}))
	require.NoError(t, err)
	assert.Equal(t, 16, c.WriteBatchMax)
	assert.Equal(t, 4, c.WriteBatchWorkers)
	// Each worker holds a connection of its own pool; the main pool must stay larger than that.
	_, err = config.Load(getenv(map[string]string{"DB_MAX_OPEN_CONNS": "4", "WRITE_BATCH_WORKERS": "3"}))
	require.ErrorContains(t, err, "WRITE_BATCH_WORKERS")
}

func TestPprofAddr(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.Empty(t, c.PprofAddr, "profiling is off unless asked for")
	c, err = config.Load(getenv(map[string]string{"PPROF_ADDR": "127.0.0.1:6060"}))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6060", c.PprofAddr)
	_, err = config.Load(getenv(map[string]string{"PPROF_ADDR": "6060"}))
	require.ErrorContains(t, err, "PPROF_ADDR")
}

func TestOutboxLinger(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, 25*time.Millisecond, c.OutboxLinger)
	c, err = config.Load(getenv(map[string]string{"OUTBOX_LINGER": "0"}))
	require.NoError(t, err)
	assert.Zero(t, c.OutboxLinger, "0 turns it off")
	for _, bad := range []string{"-1ms", "2s", "soon"} {
		_, err = config.Load(getenv(map[string]string{"OUTBOX_LINGER": bad}))
		require.ErrorContains(t, err, "OUTBOX_LINGER", bad)
	}
}

func TestRabbitExchangeIsTheOriginalsNameForTheExchange(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"RABBIT_EXCHANGE": "legacy"}))
	require.NoError(t, err)
	assert.Equal(t, "legacy", c.Exchange)
	c, err = config.Load(getenv(map[string]string{"AMQP_EXCHANGE": "orders", "RABBIT_EXCHANGE": "orders"}))
	require.NoError(t, err)
	assert.Equal(t, "orders", c.Exchange)
	_, err = config.Load(getenv(map[string]string{"AMQP_EXCHANGE": "shop", "RABBIT_EXCHANGE": "orders"}))
	require.ErrorContains(t, err, "RABBIT_EXCHANGE")
}

func TestStartupLogShowsHumanUnitsAndNoSecrets(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{
		"MYSQL_DSN": "app:dbpass@tcp(mysql:3306)/appdb", "RABBIT_URL": "amqp://u:mqpass@mq:5672/",
		"API_KEYS": "key-one,key-two", "PRODUCT_API_KEY": "key-three",
	}))
	require.NoError(t, err)
	var out bytes.Buffer
	telemetry.NewLogger(&out, slog.LevelInfo, "order-service").Info("starting", slog.Any("config", c))
	for _, want := range []string{`"priceFresh":"30s"`, `"priceMaxStale":"5m"`, `"idempotencyKeyTtl":"24h"`,
		`"outboxLinger":"25ms"`, `"productTimeout":"2s"`, `"accessLog":"errors"`, `"accessLogSlow":"500ms"`,
		`"apiKeys":2`, `"productApiKeySet":true`} {
		assert.Contains(t, out.String(), want)
	}
	for _, secret := range []string{"dbpass", "mqpass", "key-one", "key-two", "key-three", "30000000000"} {
		assert.NotContains(t, out.String(), secret)
	}
}

func TestAccessLogSettings(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"ACCESS_LOG": "all", "ACCESS_LOG_SLOW": "2s"}))
	require.NoError(t, err)
	assert.Equal(t, telemetry.AccessLogConfig{Mode: telemetry.AccessLogAll, Slow: 2 * time.Second}, c.AccessLog)
	_, err = config.Load(getenv(map[string]string{"ACCESS_LOG": "verbose"}))
	require.ErrorContains(t, err, "ACCESS_LOG")
	_, err = config.Load(getenv(map[string]string{"ACCESS_LOG_SLOW": "0"}))
	require.ErrorContains(t, err, "ACCESS_LOG_SLOW")
}

// Every variable the service reads is in the README's configuration table, so an operator who
// reads the table knows every knob.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	var read []string
	_, err := config.Load(func(k string) string { read = append(read, k); return "" })
	require.NoError(t, err)
	testkit.AssertConfigDocumented(t, "../../../README.md", read)
}

// README "Tracing": off by default, on with an OTLP endpoint, a protocol we do not speak is a
// start error naming the variable.
func TestTracingFollowsTheOTELVariables(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.False(t, c.Tracing.Enabled)
	c, err = config.Load(getenv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}))
	require.NoError(t, err)
	assert.True(t, c.Tracing.Enabled)
	assert.Equal(t, "http://jaeger:4318/v1/traces", c.Tracing.Endpoint)
	_, err = config.Load(getenv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}))
	require.ErrorContains(t, err, "OTEL_EXPORTER_OTLP_PROTOCOL")
}
