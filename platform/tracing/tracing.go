// Package tracing owns OpenTelemetry tracing for the services: whether it is on (the standard
// OTEL_* variables; off by default), the tracer provider that exports spans over OTLP/HTTP, and
// the W3C trace context as a string — a traceparent — for the places where a request's context
// must outlive the request: an outbox row, an AMQP message header, a result in stock.results.
//
// Off means off: Provider returns nil, and every component that takes a trace.TracerProvider
// (httpx's router, the clients' transport, amqpx, the outbox relay, groupcommit) treats nil as
// "do nothing": no middleware, no spans, no headers, no parsing. The hot paths then cost what
// they cost without tracing, plus at most a context lookup (BenchmarkRouter in platform/httpx).
//
// Only the W3C Trace Context format is spoken (traceparent; tracestate is passed on HTTP calls
// but not stored with events), so a trace crosses every hop of an order — see
// docs/adr/0011-tracing.md.
package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/envcfg"
)

// Config says whether spans are exported, and where.
type Config struct {
	// Enabled: an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set, and neither
	// OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none.
	Enabled bool
	// Endpoint is the OTLP/HTTP URL spans are sent to, e.g. http://jaeger:4318/v1/traces.
	Endpoint string
}

// String is what the service prints at start: "off", or where spans go.
func (c Config) String() string {
	if !c.Enabled {
		return "off"
	}
	if u, err := url.Parse(c.Endpoint); err == nil {
		return "OTLP/HTTP to " + u.Redacted()
	}
	return "OTLP/HTTP"
}

// defaultEndpoint is where OTEL_TRACES_EXPORTER=otlp sends spans when no endpoint is set (the
// OTLP/HTTP default of the specification).
const defaultEndpoint = "http://localhost:4318/v1/traces"

// Load reads the tracing settings of the OpenTelemetry specification's environment variables.
// The exporter itself also reads the OTLP ones it supports (OTEL_EXPORTER_OTLP_HEADERS,
// _TIMEOUT, _COMPRESSION, _CERTIFICATE, …), the SDK OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_*,
// and the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. Bad values are reported
// through e, naming the variable.
func Load(e *envcfg.Reader) Config {
	disabled := strings.EqualFold(e.Str("OTEL_SDK_DISABLED", "false"), "true")
	exporter := strings.ToLower(e.Str("OTEL_TRACES_EXPORTER", ""))
	switch exporter {
	case "", "otlp", "none":
	default:
		e.Fail("OTEL_TRACES_EXPORTER", "want otlp or none (spans are exported over OTLP/HTTP only)")
	}
	endpoint := e.Str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	name := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if endpoint == "" {
		if base := e.Str("OTEL_EXPORTER_OTLP_ENDPOINT", ""); base != "" {
			// The specification: the signal's path is appended to the base endpoint.
			endpoint, name = strings.TrimRight(base, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
		}
	}
	for _, key := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := e.Str(key, ""); p != "" && p != "http/protobuf" {
			e.Fail(key, "want http/protobuf (the services export over OTLP/HTTP, port 4318; grpc is not built in)")
		}
	}
	c := Config{Enabled: !disabled && exporter != "none" && (exporter == "otlp" || endpoint != "")}
	if !c.Enabled {
		return c
	}
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.Fail(name, "want an http:// or https:// URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318")
	}
	c.Endpoint = endpoint
	return c
}

// Tracing is a service's tracer provider; the zero value and nil are tracing off.
type Tracing struct {
	sdk *sdktrace.TracerProvider
}

// New starts tracing as cfg says, naming the service in every span's resource (OTEL_SERVICE_NAME
// overrides service). Off, it returns a Tracing that does nothing and costs nothing.
func New(ctx context.Context, cfg Config, service string) (*Tracing, error) {
	if !cfg.Enabled {
		return &Tracing{}, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	// Later options win: the environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) over the
	// service's own name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on), the batch
	// processor's tuning from OTEL_BSP_*.
	return &Tracing{sdk: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// NewWith wraps a provider built elsewhere (tests: an in-memory exporter).
func NewWith(tp *sdktrace.TracerProvider) *Tracing { return &Tracing{sdk: tp} }

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Provider is the tracer provider for the components, or nil when tracing is off: they do
// nothing for tracing then.
func (t *Tracing) Provider() trace.TracerProvider {
	if !t.Enabled() {
		return nil
	}
	return t.sdk
}

// Shutdown exports the spans still buffered and stops the provider; ctx bounds it.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: flush spans: %w", err)
	}
	return nil
}

// Header is the W3C header (and AMQP header) that carries a span's context.
const Header = "traceparent"

// OtelHTTPOptions are the options of every otelhttp handler and transport of the services:
// the provider, the W3C propagator, and no HTTP metrics (Prometheus has them).
func OtelHTTPOptions(tp trace.TracerProvider, more ...otelhttp.Option) []otelhttp.Option {
	return append([]otelhttp.Option{otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider())}, more...)
}

// WrapTransport returns the wrapper of the generated clients' transport that starts a client
// span per call and sends traceparent, or nil when tracing is off (calls go out untouched).
func (t *Tracing) WrapTransport() func(http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return nil
	}
	tp := t.sdk
	return func(rt http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(rt, OtelHTTPOptions(tp)...)
	}
}

// traceparentLen is the length of a version-00 traceparent: 00-<32 hex>-<16 hex>-<2 hex>.
const traceparentLen = 55

// Traceparent returns the W3C traceparent of ctx's span, or "" when ctx has none (tracing off,
// or work no traced request caused). Off, it costs one context lookup and allocates nothing.
func Traceparent(ctx context.Context) string {
	return Format(trace.SpanContextFromContext(ctx))
}

// Format renders sc as a traceparent, or "" when sc is not valid.
func Format(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var b [traceparentLen]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// Parse reads a traceparent into a remote span context; ok is false for "" and anything that is
// not a valid traceparent (which is then ignored: a bad trace header never fails the work).
func Parse(traceparent string) (sc trace.SpanContext, ok bool) {
	if traceparent == "" {
		return trace.SpanContext{}, false
	}
	sc = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier(traceparent)))
	return sc, sc.IsValid()
}

// WithParent returns ctx with traceparent as its remote parent span, or ctx as it is when
// traceparent is not valid.
func WithParent(ctx context.Context, traceparent string) context.Context {
	if sc, ok := Parse(traceparent); ok {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// carrier holds a lone traceparent for the propagator.
type carrier string

func (c carrier) Get(key string) string {
	if key == Header {
		return string(c)
	}
	return ""
}
func (carrier) Set(string, string) {}
func (carrier) Keys() []string     { return []string{Header} }

// Storable reports whether s is a traceparent the services may store: exactly a version-00
// header's length (what Format produces), so a stored one always fits its column.
func Storable(s string) bool { return len(s) == traceparentLen }
