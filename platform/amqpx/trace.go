package amqpx

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/tracing"
)

// instrumentation is the name of this package's tracer.
const instrumentation = "github.com/shopworks/shop/platform/amqpx"

// traceHeaders are the headers of a published message: its traceparent, when it has one, and
// none otherwise (api/events.yaml: published messages carry no other header).
func traceHeaders(traceparent string) amqp.Table {
	if traceparent == "" {
		return nil
	}
	return amqp.Table{tracing.Header: traceparent}
}

// startDelivery starts the consumer span of one delivery — the child of the message's
// traceparent header when it has a valid one — covering every attempt of the handler. Only
// called with tracing on.
func (w *worker) startDelivery(ctx context.Context, d amqp.Delivery) (context.Context, trace.Span) {
	if tp, ok := d.Headers[tracing.Header].(string); ok {
		ctx = tracing.WithParent(ctx, tp)
	}
	return w.tracer.Start(ctx, "process "+d.RoutingKey, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "rabbitmq"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", d.Exchange),
			attribute.String("messaging.rabbitmq.destination.routing_key", d.RoutingKey),
			attribute.String("messaging.consumer.group.name", w.queue),
			attribute.String("messaging.message.id", d.MessageId),
			attribute.String("messaging.message.conversation_id", d.CorrelationId),
			attribute.Bool("messaging.rabbitmq.redelivered", d.Redelivered),
		))
}

// traceRetry notes a failed attempt on the delivery's span (a no-op without one).
func traceRetry(ctx context.Context, attempt int, err error) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", attempt), attribute.String("error", err.Error())))
	}
}

// traceDeadLettered marks the delivery's span as failed (a no-op without one).
func traceDeadLettered(ctx context.Context, cause error) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.Bool("messaging.dead_lettered", true))
		span.RecordError(cause)
		span.SetStatus(codes.Error, cause.Error())
	}
}
