package config_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/config"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsPointAtLocalhost(t *testing.T) {
	c, err := config.Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, 3000, c.Port)
	assert.Contains(t, c.MySQLDSN, "tcp(127.0.0.1:3306)/productdb")
	assert.Equal(t, "orders", c.Exchange)
	assert.Equal(t, "product-service__order-created", c.OrderCreatedQueue())
	assert.Equal(t, 2500*time.Millisecond, c.OrdersTimeout)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
}

func TestSeedNamesAndDSNForms(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{
		"PORT": "3100", "DATABASE_URL": "mysql://app:secret@db:3306/appdb", "ORDERS_BASE": "http://orders:4000/",
		"AMQP_EXCHANGE": "x", "API_KEYS": "a, b,", "AMQP_QUEUE_PREFIX": "t_",
	}))
	require.NoError(t, err)
	assert.Equal(t, 3100, c.Port)
	assert.Contains(t, c.MySQLDSN, "app:secret@tcp(db:3306)/appdb")
	assert.Equal(t, "http://orders:4000", c.OrdersBaseURL)
	assert.Equal(t, []string{"a", "b"}, c.APIKeys)
	assert.Equal(t, "t_product-service__order-created", c.OrderCreatedQueue())
	assert.NotContains(t, slog.AnyValue(c).Resolve().String(), "secret", "secrets are masked when printed")

	c, err = config.Load(getenv(map[string]string{"DATABASE_URL": "u:p@tcp(h:3306)/d?parseTime=true"}))
	require.NoError(t, err)
	assert.Contains(t, c.MySQLDSN, "tcp(h:3306)/d")
}

func TestBadValuesFailNamingTheVariable(t *testing.T) {
	_, err := config.Load(getenv(map[string]string{"PORT": "x", "LOG_LEVEL": "loud", "CACHE_TTL": "-1s", "DB_MAX_OPEN_CONNS": "1", "DATABASE_URL": "mysql://h"}))
	require.Error(t, err)
	for _, v := range []string{"PORT", "LOG_LEVEL", "CACHE_TTL", "DB_MAX_OPEN_CONNS", "DATABASE_URL"} {
		assert.Contains(t, err.Error(), v)
	}
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

func TestLocalCacheCanBeTurnedOff(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"LOCAL_CACHE_TTL": "0"}))
	require.NoError(t, err, "README and ADR 0006: LOCAL_CACHE_TTL=0 turns the in-process cache off")
	assert.Zero(t, c.LocalCacheTTL)
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
		"DATABASE_URL": "mysql://app:dbpass@db:3306/appdb", "REDIS_URL": "redis://:redispass@cache:6379",
		"API_KEYS": "key-one", "ORDERS_API_KEY": "key-two",
	}))
	require.NoError(t, err)
	var out bytes.Buffer
	telemetry.NewLogger(&out, slog.LevelInfo, "product-service").Info("starting", slog.Any("config", c))
	for _, want := range []string{`"ordersTimeout":"2.5s"`, `"cacheTtl":"1m"`, `"localCacheTtl":"500ms"`,
		`"outboxLinger":"25ms"`, `"shutdownTimeout":"10s"`, `"accessLog":"errors"`, `"apiKeys":1`, `"ordersApiKeySet":true`} {
		assert.Contains(t, out.String(), want)
	}
	for _, secret := range []string{"dbpass", "redispass", "key-one", "key-two", "2500000000"} {
		assert.NotContains(t, out.String(), secret)
	}
}

func TestAccessLogSettings(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"ACCESS_LOG": "off"}))
	require.NoError(t, err)
	assert.Equal(t, telemetry.AccessLogConfig{Mode: telemetry.AccessLogOff, Slow: telemetry.DefaultSlowRequest}, c.AccessLog)
	_, err = config.Load(getenv(map[string]string{"ACCESS_LOG": "verbose", "ACCESS_LOG_SLOW": "-1s"}))
	require.ErrorContains(t, err, "ACCESS_LOG:")
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
