package amqpx

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// handle runs the handler with retries and settles d exactly once: ack on success or after it
// is safely in the DLQ, nack-requeue when it could not be put there or we are shutting down.
func (w *worker) handle(ctx context.Context, d amqp.Delivery) {
	log := w.log.With("routing_key", d.RoutingKey, "message_id", d.MessageId, "correlation_id", d.CorrelationId)
	if ctx.Err() != nil {
		// Prefetched after shutdown began: give it back untouched for another replica.
		w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
		return
	}
	del := toDelivery(d)
	var err error
	attempts := 0
	for {
		attempts++
		if err = w.invoke(ctx, del, log); err == nil {
			w.settle(log, d, outcomeOK, func() error { return d.Ack(false) })
			return
		}
		if IsPermanent(err) || attempts >= w.spec.MaxAttempts {
			break
		}
		delay := retryDelay(w.spec.Backoff, attempts)
		w.conn.m.consumed.WithLabelValues(w.queue, outcomeRetried).Inc()
		log.Warn("handler failed; retrying", "attempt", attempts, "retry_in", delay, "err", err)
		if !sleepCtx(ctx, delay) {
			w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
			return
		}
	}
	w.giveUp(ctx, log, d, err, attempts)
}

// invoke calls the handler with its own deadline and turns a panic into an error.
func (w *worker) invoke(ctx context.Context, del Delivery, log *slog.Logger) (err error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.spec.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return w.h(hctx, del)
}

// giveUp moves d to its DLQ.
func (w *worker) giveUp(ctx context.Context, log *slog.Logger, d amqp.Delivery, cause error, attempts int) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
	defer cancel()
	if err := w.conn.deadLetter(dctx, w.spec.DeadLetterQueue, d, cause, attempts); err != nil {
		log.Error("dead-lettering failed; requeueing", "attempts", attempts, "cause", cause, "err", err)
		w.settle(log, d, outcomeRequeued, func() error { return d.Nack(false, true) })
		return
	}
	log.Error("message dead-lettered", "dlq", w.spec.DeadLetterQueue, "attempts", attempts, "permanent", IsPermanent(cause), "err", cause)
	w.settle(log, d, outcomeDeadLettered, func() error { return d.Ack(false) })
}

// settle acks or nacks and counts the outcome. A failed ack means the channel is gone and the
// broker will redeliver; idempotent handlers make that harmless.
func (w *worker) settle(log *slog.Logger, d amqp.Delivery, outcome string, fn func() error) {
	if err := fn(); err != nil {
		log.Warn("settling delivery failed; the broker will redeliver it", "outcome", outcome, "err", err)
		return
	}
	w.conn.m.consumed.WithLabelValues(w.queue, outcome).Inc()
}

// retryDelay is base·2^(attempt-1), capped.
func retryDelay(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}
