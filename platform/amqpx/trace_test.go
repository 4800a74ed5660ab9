package amqpx_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

const msgTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A message's traceparent travels as its only header; the consumer's span of each delivery is
// the child of it and covers the retries, and the handler runs inside that span.
func TestTraceContextTravelsWithTheMessage(t *testing.T) {
	e := newEnv(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	traced, err := amqpx.Dial(ctx, amqpx.Config{URL: e.url, Exchange: e.exchange, ConnectionName: t.Name(), TracerProvider: tp}, amqpxtest.Logger(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, traced.Close()) })

	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.*"}, Backoff: time.Millisecond, MaxAttempts: 2}
	require.NoError(t, e.conn.DeclareTopology(spec))
	rec := newRecorder()
	handled := make(chan trace.SpanContext, 10)
	e.consume(traced, spec, func(ctx context.Context, d amqpx.Delivery) error {
		handled <- trace.SpanContextFromContext(ctx)
		rec.add(d)
		if d.MessageID == "bad" {
			return errBoom
		}
		return nil
	})
	require.NoError(t, e.conn.Publish(ctx, []amqpx.Message{
		{RoutingKey: "order.created", MessageID: "traced", CorrelationID: "req-1", Traceparent: msgTraceparent, Body: []byte(`{}`)},
		{RoutingKey: "order.created", MessageID: "untraced", Body: []byte(`{}`)},
	}))
	rec.wait(t, "traced")
	rec.wait(t, "untraced")
	assert.Equal(t, map[string]any{"traceparent": msgTraceparent}, rec.got[0].Headers, "the trace context is the only header")
	assert.Empty(t, rec.got[1].Headers, "no trace context: no header at all")

	require.NoError(t, e.conn.Publish(ctx, []amqpx.Message{{RoutingKey: "order.created", MessageID: "bad", Traceparent: msgTraceparent, Body: []byte(`{}`)}}))
	require.Eventually(t, func() bool { return len(exp.GetSpans()) == 3 }, 10*time.Second, 10*time.Millisecond)
	spans := exp.GetSpans()
	first := <-handled
	assert.Equal(t, spans[0].SpanContext, first, "the handler runs in the delivery's span")
	for _, s := range spans {
		assert.Equal(t, "process order.created", s.Name)
		assert.Equal(t, trace.SpanKindConsumer, s.SpanKind)
	}
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", spans[0].SpanContext.TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", spans[0].Parent.SpanID().String(), "a child of the publisher's context")
	assert.Contains(t, spans[0].Attributes, attribute.String("messaging.message.conversation_id", "req-1"))
	assert.False(t, spans[1].Parent.IsValid(), "an untraced message starts a trace of its own")
	bad := spans[2]
	assert.Equal(t, codes.Error, bad.Status.Code, "dead-lettered")
	require.Len(t, bad.Events, 2, "one retry, then the error")
	assert.Equal(t, "retry", bad.Events[0].Name)
}

// With tracing off a delivery gets no span and the handler's context none either.
func TestNoTracingNoSpan(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.created"}}
	require.NoError(t, e.conn.DeclareTopology(spec))
	got := make(chan trace.SpanContext, 1)
	rec := newRecorder()
	e.consume(e.conn, spec, func(ctx context.Context, d amqpx.Delivery) error {
		got <- trace.SpanContextFromContext(ctx)
		rec.add(d)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.conn.Publish(ctx, []amqpx.Message{{RoutingKey: "order.created", MessageID: "m", Traceparent: msgTraceparent, Body: []byte(`{}`)}}))
	rec.wait(t, "m")
	assert.False(t, (<-got).IsValid(), "the header is not even read")
}
