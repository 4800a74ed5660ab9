package tracing_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/envcfg"
	"github.com/shopworks/shop/platform/tracing"
)

func load(env map[string]string) (tracing.Config, error) {
	e := envcfg.New(func(k string) string { return env[k] })
	c := tracing.Load(e)
	return c, e.Err()
}

func TestTracingIsOffUnlessAnExporterIsConfigured(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		endpoint string // "" = off
	}{
		"nothing set":             {env: nil},
		"base endpoint":           {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}, endpoint: "http://jaeger:4318/v1/traces"},
		"traces endpoint as is":   {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/x"}, endpoint: "https://b/x"},
		"otlp without endpoint":   {env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, endpoint: "http://localhost:4318/v1/traces"},
		"exporter none wins":      {env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}},
		"sdk disabled wins":       {env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}},
		"http/protobuf is spoken": {env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"}, endpoint: "http://a:4318/v1/traces"},
	} {
		c, err := load(tc.env)
		require.NoError(t, err, name)
		assert.Equal(t, tc.endpoint != "", c.Enabled, name)
		assert.Equal(t, tc.endpoint, c.Endpoint, name)
	}
}

func TestBadTracingSettingsFailNamingTheVariable(t *testing.T) {
	for name, tc := range map[string]struct {
		env map[string]string
		key string
	}{
		"grpc":             {map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		"traces protocol":  {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		"unknown exporter": {map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		"not a URL":        {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"no host":          {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http:///v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
	} {
		_, err := load(tc.env)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.key, name)
	}
}

func TestOffCostsNothingAndProvidesNothing(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{}, "svc")
	require.NoError(t, err)
	assert.False(t, tr.Enabled())
	assert.Nil(t, tr.Provider(), "components see nil: tracing off")
	assert.Nil(t, tr.WrapTransport())
	assert.NoError(t, tr.Shutdown(context.Background()))
	var none *tracing.Tracing
	assert.Nil(t, none.Provider())
	ctx := context.Background()
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = tracing.Traceparent(ctx) }), "no span: no allocation")
}

func TestOnExportsToTheEndpoint(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{Enabled: true, Endpoint: "http://127.0.0.1:1/v1/traces"}, "svc")
	require.NoError(t, err)
	assert.True(t, tr.Enabled())
	require.NotNil(t, tr.Provider())
	assert.NotNil(t, tr.WrapTransport())
	_, span := tr.Provider().Tracer("t").Start(context.Background(), "s")
	assert.True(t, span.IsRecording())
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	_ = tr.Shutdown(ctx) // nothing listens there: the flush fails, the shutdown does not hang
}

func TestTraceparentRoundTrips(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := tracing.Parse(tp)
	require.True(t, ok)
	assert.True(t, sc.IsRemote())
	assert.True(t, sc.IsSampled())
	assert.Equal(t, tp, tracing.Format(sc))
	assert.True(t, tracing.Storable(tp))
	ctx := tracing.WithParent(context.Background(), tp)
	assert.Equal(t, tp, tracing.Traceparent(ctx))
	assert.Equal(t, sc, trace.SpanContextFromContext(ctx))

	unsampled := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	sc, ok = tracing.Parse(unsampled)
	require.True(t, ok)
	assert.False(t, sc.IsSampled())
	assert.Equal(t, unsampled, tracing.Format(sc), "the sampling decision travels too")

	for _, bad := range []string{"", "x", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		_, ok := tracing.Parse(bad)
		assert.False(t, ok, bad)
		assert.Equal(t, context.Background(), tracing.WithParent(context.Background(), bad), "ignored: %q", bad)
	}
	assert.Empty(t, tracing.Traceparent(context.Background()))
}
