package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/tracing"
)

// Each published message carries the trace context of the transaction that wrote its event
// (given, or the writer's context), never the relay's; the relay's batch span is a trace of its
// own linked to each of them. A malformed trace context is dropped, not the event.
func TestEachMessageCarriesTheTraceOfTheWorkThatWroteIt(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	opts := fastOptions()
	opts.TracerProvider = tp
	relay := outbox.NewRelay(db, b.conn, opts, amqpxtest.Logger(t), nil)

	const given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST /orders")
	request.End()
	fromCtx := tracing.Format(request.SpanContext())
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, outbox.Add(ctx, tx,
		outbox.Event{ID: "given", RoutingKey: "stock.results", Payload: []byte(`{}`), Traceparent: given},
		outbox.Event{ID: "from-ctx", RoutingKey: "order.created", Payload: []byte(`{}`)},
		outbox.Event{ID: "malformed", RoutingKey: "order.created", Payload: []byte(`{}`), Traceparent: strings.Repeat("x", 300)},
	))
	require.NoError(t, tx.Commit())
	addEvents(t, db, "untraced", 1) // context.Background(): no trace

	run(t, relay)
	relay.Notify()
	s.waitUnique(t, 4)
	s.mu.Lock()
	assert.Equal(t, given, s.last["given"].Headers["traceparent"])
	assert.Equal(t, fromCtx, s.last["from-ctx"].Headers["traceparent"])
	assert.Empty(t, s.last["malformed"].Headers)
	assert.Empty(t, s.last["untraced-0"].Headers)
	s.mu.Unlock()

	var batches []tracetest.SpanStub
	require.Eventually(t, func() bool {
		batches = nil
		for _, sp := range exp.GetSpans() {
			if sp.Name == "outbox publish" {
				batches = append(batches, sp)
			}
		}
		return len(batches) > 0
	}, 5*time.Second, 10*time.Millisecond)
	linked := map[trace.TraceID]bool{}
	for _, sp := range batches {
		assert.Equal(t, trace.SpanKindProducer, sp.SpanKind)
		assert.False(t, sp.Parent.IsValid(), "a batch is a trace of its own")
		for _, l := range sp.Links {
			linked[l.SpanContext.TraceID()] = true
		}
	}
	assert.True(t, linked[request.SpanContext().TraceID()], "linked to the request's trace")
	assert.Len(t, linked, 2, "linked to the two traced events")
}
