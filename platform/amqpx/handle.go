package amqpx

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
)

// handle runs the handler with retries and settles d exactly once: ack on success or after it
// is safely in the DLQ, nack-requeue when it could not be put there or we are shutting down.
func (w *worker) handle(ctx context.Context, d amqp.Delivery) {
	log := deliveryLog{w: w, d: &d}
	if ctx.Err() != nil {
		// Prefetched after shutdown began: give it back untouched for another replica.
		w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
		return
	}
	if w.tracer != nil {
		var span trace.Span
		ctx, span = w.startDelivery(ctx, d)
		defer span.End()
	}
	del := toDelivery(d)
	restoreRoutingKey(&del, w.spec)
	var err error
	attempts := 0
	for {
		attempts++
		if err = w.invoke(ctx, del, log); err == nil {
			w.acks.succeeded(d.DeliveryTag) // acked with others, and counted then
			return
		}
		if IsPermanent(err) || attempts >= w.spec.MaxAttempts {
			break
		}
		delay := retryDelay(w.spec.Backoff, attempts)
		w.conn.m.consumed.WithLabelValues(w.queue, outcomeRetried).Inc()
		log.get().WarnContext(ctx, "handler failed; retrying", "attempt", attempts, "retryIn", delay, "error", err)
		traceRetry(ctx, attempts, err)
		if !sleepCtx(ctx, delay) {
			w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
			return
		}
	}
	w.giveUp(ctx, log, d, err, attempts)
}

// invoke calls the handler with its own deadline and turns a panic into an error.
func (w *worker) invoke(ctx context.Context, del Delivery, log deliveryLog) (err error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.spec.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.get().ErrorContext(ctx, "handler panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return w.h(hctx, del)
}

// giveUp moves d to its DLQ.
func (w *worker) giveUp(ctx context.Context, log deliveryLog, d amqp.Delivery, cause error, attempts int) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
	defer cancel()
	if err := w.conn.deadLetter(dctx, w.spec.DeadLetterQueue, d, cause, attempts); err != nil {
		log.get().ErrorContext(ctx, "dead-lettering failed; requeueing", "attempts", attempts, "cause", cause, "error", err)
		w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
		return
	}
	traceDeadLettered(ctx, cause)
	log.get().ErrorContext(ctx, "message dead-lettered", "dlq", w.spec.DeadLetterQueue, "attempts", attempts, "permanent", IsPermanent(cause), "error", cause)
	w.settle(log, d, outcomeDeadLettered, func() error { return d.Ack(false) })
}

// settle acks or nacks a delivery on its own (not a plain success, which the acker acks with
// others) and counts the outcome. A failed ack means the channel is gone and the broker will
// redeliver; idempotent handlers make that harmless.
func (w *worker) settle(log deliveryLog, d amqp.Delivery, outcome string, fn func() error) {
	defer w.acks.settled(d.DeliveryTag)
	if err := fn(); err != nil {
		log.get().Warn("settling delivery failed; the broker will redeliver it", "outcome", outcome, "error", err)
		return
	}
	w.conn.m.consumed.WithLabelValues(w.queue, outcome).Inc()
}

// deliveryLog builds the delivery's logger only when something is logged: the common path (a
// successful handler) logs nothing here and should not pay for it.
type deliveryLog struct {
	w *worker
	d *amqp.Delivery
	l *slog.Logger
}

func (l *deliveryLog) get() *slog.Logger {
	if l.l == nil {
		l.l = l.w.log.With("routingKey", l.d.RoutingKey, "messageId", l.d.MessageId, "correlationId", l.d.CorrelationId)
	}
	return l.l
}

// retryDelay is base·2^(attempt-1), capped.
func retryDelay(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}
