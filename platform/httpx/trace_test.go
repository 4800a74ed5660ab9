package httpx_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/tracing"
)

func tracedRouter(t testing.TB, logs io.Writer) (http.Handler, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newTestRouter(t.(*testing.T), logs, func(c *httpx.RouterConfig) { c.TracerProvider = tp })
	return h, exp
}

const clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A request that carries a traceparent continues that trace: its server span is a child of the
// caller's, named after the route template, with the request ID; the access log line carries the
// trace and span IDs; the probes are not traced.
func TestRequestsContinueTheCallersTraceUnderTheirRouteTemplate(t *testing.T) {
	var logs bytes.Buffer
	h, exp := tracedRouter(t, &logs)
	rec, _ := do(t, h, "GET", "/things/42", "", "", "traceparent", clientTraceparent, "X-Request-ID", "demo-42")
	require.Equal(t, http.StatusOK, rec.Code)
	do(t, h, "GET", "/healthz", "", "")
	do(t, h, "GET", "/boom", "", "")

	spans := exp.GetSpans()
	require.Len(t, spans, 2, "the probe is not traced")
	s := spans[0]
	assert.Equal(t, "GET /things/{id}", s.Name)
	assert.Equal(t, trace.SpanKindServer, s.SpanKind)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext.TraceID().String(), "the caller's trace")
	assert.Equal(t, "00f067aa0ba902b7", s.Parent.SpanID().String(), "a child of the caller's span")
	assert.True(t, s.Parent.IsRemote())
	assert.Contains(t, s.Attributes, attribute.String("http.route", "/things/{id}"))
	assert.Contains(t, s.Attributes, attribute.StringSlice("http.request.header.x-request-id", []string{"demo-42"}))
	assert.Contains(t, logs.String(), `"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"`+s.SpanContext.SpanID().String()+`"`)

	boom := spans[1]
	assert.Equal(t, "GET /boom", boom.Name)
	assert.False(t, boom.Parent.IsValid(), "no traceparent: a new trace")
	assert.Equal(t, codes.Error, boom.Status.Code, "a 500 is an error")
}

// A traceparent that is not one starts a new trace instead of failing the request.
func TestABadTraceparentStartsANewTrace(t *testing.T) {
	h, exp := tracedRouter(t, io.Discard)
	for _, bad := range []string{"garbage", strings.Repeat("0", 55), "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		rec, _ := do(t, h, "GET", "/things/1", "", "", "traceparent", bad)
		assert.Equal(t, http.StatusOK, rec.Code)
	}
	for _, s := range exp.GetSpans() {
		assert.False(t, s.Parent.IsValid())
	}
}

// With tracing off no span exists and log lines carry no trace IDs.
func TestTracingOffLeavesRequestsAlone(t *testing.T) {
	var logs bytes.Buffer
	h := newTestRouter(t, &logs)
	rec, _ := do(t, h, "GET", "/things/1", "", "", "traceparent", clientTraceparent)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.NotContains(t, logs.String(), "traceId")
}

// BenchmarkRouter is what tracing costs a request through the whole middleware chain: off (the
// default: the tracing middleware is not installed), and on with the SDK recording each span
// (exported to nowhere). Run: cd platform && go test -run '^$' -bench Router -benchmem ./httpx/
func BenchmarkRouter(b *testing.B) {
	for _, mode := range []string{"off", "off-with-traceparent", "on"} {
		b.Run(mode, func(b *testing.B) {
			var opts []func(*httpx.RouterConfig)
			if mode == "on" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))
				opts = append(opts, func(c *httpx.RouterConfig) { c.TracerProvider = tp })
			}
			h := newTestRouter(&testing.T{}, io.Discard, opts...)
			req := httptest.NewRequest("GET", "/things/1", nil)
			if mode != "off" {
				req.Header.Set(tracing.Header, clientTraceparent)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// discard is a span processor that drops every span: the cost of recording without exporting.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }
