package outbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/tracing"
)

// instrumentation is the name of this package's tracer.
const instrumentation = "github.com/shopworks/shop/platform/outbox"

// traceBatch starts the span of one published batch. A batch carries the events of many
// requests, so it is a trace of its own, linked to each event's trace; the messages themselves
// keep the traceparent their events were written with, so a consumer's span is the child of
// the request that caused the event, not of the relay. end records the publish's error.
func (r *Relay) traceBatch(ctx context.Context, msgs []amqpx.Message) (context.Context, func(error)) {
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		if sc, ok := tracing.Parse(m.Traceparent); ok {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				attribute.String("messaging.message.id", m.MessageID), attribute.String("messaging.rabbitmq.destination.routing_key", m.RoutingKey)}})
		}
	}
	ctx, span := r.tracer.Start(ctx, "outbox publish", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(links...), trace.WithAttributes(
			attribute.String("messaging.system", "rabbitmq"),
			attribute.String("messaging.operation.type", "send"),
			attribute.Int("messaging.batch.message_count", len(msgs))))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
