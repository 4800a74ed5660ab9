package amqpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

func TestConsumeRetriesThenSucceeds(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.created"}, Backoff: 5 * time.Millisecond}
	require.NoError(t, e.conn.DeclareTopology(spec))

	rec := newRecorder()
	var calls atomic.Int32
	e.consume(e.conn, spec, func(_ context.Context, d amqpx.Delivery) error {
		if calls.Add(1) <= 2 {
			return errBoom
		}
		rec.add(d)
		return nil
	})
	e.publish(e.conn, "order.created", "o1", `{"orderId":1}`)
	rec.wait(t, "o1")

	assert.EqualValues(t, 3, calls.Load())
	assert.Equal(t, "corr-o1", rec.got[0].CorrelationID)
	assert.Equal(t, "order.created", rec.got[0].RoutingKey)
	assert.JSONEq(t, `{"orderId":1}`, string(rec.got[0].Body))
	require.Eventually(t, func() bool {
		return metric(t, e.reg, "shop_events_consumed_total", map[string]string{"queue": spec.Queue, "outcome": "ok"}) == 1
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2.0, metric(t, e.reg, "shop_events_consumed_total", map[string]string{"queue": spec.Queue, "outcome": "retried"}))
	depth, err := e.conn.QueueDepth(spec.Queue + ".dlq")
	require.NoError(t, err)
	assert.Zero(t, depth)

	// Re-declaring with exactly these arguments only succeeds if the queue is a quorum queue
	// with them (the broker answers 406 to any difference).
	_, err = e.rawChannel().QueueDeclare(spec.Queue, true, false, false, false, amqp.Table{
		"x-queue-type":              "quorum",
		"x-dead-letter-exchange":    e.exchange + ".dlx",
		"x-dead-letter-routing-key": spec.Queue + ".dlq",
		"x-delivery-limit":          int64(20),
	})
	require.NoError(t, err)
}

func TestConsumePermanentErrorGoesStraightToDLQ(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.*"}}
	require.NoError(t, e.conn.DeclareTopology(spec))

	rec := newRecorder()
	var badCalls atomic.Int32
	e.consume(e.conn, spec, func(_ context.Context, d amqpx.Delivery) error {
		var v map[string]any
		if err := json.Unmarshal(d.Body, &v); err != nil {
			badCalls.Add(1)
			return amqpx.Permanent(fmt.Errorf("decode %s: %w", d.RoutingKey, err))
		}
		rec.add(d)
		return nil
	})
	e.publish(e.conn, "order.created", "bad", `{not json`)
	e.publish(e.conn, "order.created", "good", `{"ok":true}`)
	rec.wait(t, "good") // the consumer kept going after the poison message

	ch := e.rawChannel()
	d := e.getOne(ch, spec.Queue+".dlq")
	assert.EqualValues(t, 1, badCalls.Load(), "a permanent error is not retried")
	assert.Equal(t, "bad", d.MessageId)
	assert.Equal(t, "corr-bad", d.CorrelationId)
	assert.Equal(t, "application/json", d.ContentType)
	assert.Equal(t, "order.created", d.Type)
	assert.Equal(t, `{not json`, string(d.Body))
	assert.Contains(t, d.Headers["x-death-reason"], "decode order.created")
	assert.Equal(t, "order.created", d.Headers["x-original-routing-key"])
	assert.EqualValues(t, 1, d.Headers["x-attempts"])
	assert.Equal(t, 1.0, metric(t, e.reg, "shop_events_consumed_total", map[string]string{"queue": spec.Queue, "outcome": "dead_lettered"}))
}

func TestConsumeGivesUpAfterMaxAttempts(t *testing.T) {
	for name, h := range map[string]func() error{
		"error": func() error { return fmt.Errorf("handle: %w", errBoom) },
		"panic": func() error { panic("boom") },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.created"},
				MaxAttempts: 3, Backoff: 5 * time.Millisecond, Concurrency: 2}
			require.NoError(t, e.conn.DeclareTopology(spec))
			var calls atomic.Int32
			e.consume(e.conn, spec, func(context.Context, amqpx.Delivery) error {
				calls.Add(1)
				return h()
			})
			e.publish(e.conn, "order.created", "doomed", `{}`)

			d := e.getOne(e.rawChannel(), spec.Queue+".dlq")
			assert.Equal(t, "doomed", d.MessageId)
			assert.EqualValues(t, 3, calls.Load())
			assert.EqualValues(t, 3, d.Headers["x-attempts"])
			assert.Contains(t, d.Headers["x-death-reason"], "boom")
		})
	}
}

func TestDeathReasonIsTruncated(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"k"}}
	require.NoError(t, e.conn.DeclareTopology(spec))
	// "a" then 2-byte runes: the 1 KiB cut falls inside a rune and must not split it.
	long := "a" + strings.Repeat("é", 3000)
	e.consume(e.conn, spec, func(context.Context, amqpx.Delivery) error {
		return amqpx.Permanent(errors.New(long))
	})
	e.publish(e.conn, "k", "long", `{}`)
	d := e.getOne(e.rawChannel(), spec.Queue+".dlq")
	reason, ok := d.Headers["x-death-reason"].(string)
	require.True(t, ok)
	assert.Len(t, reason, 1023)
	assert.True(t, utf8.ValidString(reason))
}

func TestConsumeRefusedTopologyIsAnError(t *testing.T) {
	e := newEnv(t)
	// The broker refuses queue names with the reserved prefix "amq." (403): a configuration
	// error that retrying cannot fix.
	spec := amqpx.ConsumerSpec{Queue: amqpxtest.Name("amq.test_refused"), Bindings: []string{"k"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.conn.Consume(ctx, spec, func(context.Context, amqpx.Delivery) error { return nil })
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "must fail fast, not retry until the deadline")
}

func TestExclusiveConsumersAllReceiveBroadcasts(t *testing.T) {
	e := newEnv(t)
	other := e.dial(e.url, nil)
	spec := amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"product.*"}, DeadLetterQueue: e.queue() + ".dlq"}
	recs := []*recorder{newRecorder(), newRecorder()}
	for i, c := range []*amqpx.Conn{e.conn, other} {
		e.consume(c, spec, func(_ context.Context, d amqpx.Delivery) error {
			recs[i].add(d)
			return nil
		})
	}
	// Server-named queues appear when each consumer starts: probe until both are bound.
	for i, rec := range recs {
		require.Eventually(t, func() bool {
			id := fmt.Sprintf("probe-%d-%d", i, time.Now().UnixNano())
			e.publish(e.conn, "product.probe", id, `{}`)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return len(rec.got) > 0
		}, 10*time.Second, 50*time.Millisecond)
	}
	e.publish(e.conn, "product.updated", "p1", `{"id":1}`)
	for _, rec := range recs {
		rec.wait(t, "p1")
	}
}

func TestExclusiveConsumersDeadLetterToTheirSharedDLQ(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue() + ".dlq" // deleted after the test with the queue
	other := e.dial(e.url, nil)
	spec := amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"product.*"}, DeadLetterQueue: dlq, Backoff: time.Millisecond}
	rec := newRecorder()
	for _, c := range []*amqpx.Conn{e.conn, other} {
		e.consume(c, spec, func(_ context.Context, d amqpx.Delivery) error {
			if string(d.Body) == "poison" {
				return amqpx.Permanent(errors.New("decode product.updated: price: number must be at least 0.01"))
			}
			rec.add(d)
			return nil
		})
	}
	require.Eventually(t, func() bool {
		e.publish(e.conn, "product.probe", fmt.Sprint(time.Now().UnixNano()), `{}`)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.got) >= 2 // both replicas' queues are bound
	}, 10*time.Second, 50*time.Millisecond)

	e.publish(e.conn, "product.updated", "bad", "poison")
	ch := e.rawChannel()
	for range 2 { // each replica's copy, in the one shared DLQ
		d := e.getOne(ch, dlq)
		assert.Equal(t, "bad", d.MessageId)
		assert.Equal(t, "poison", string(d.Body))
		assert.Contains(t, d.Headers["x-death-reason"], "price: number must be at least 0.01")
		assert.Equal(t, "product.updated", d.Headers["x-original-routing-key"])
	}
	e.publish(e.conn, "product.updated", "good", `{}`)
	rec.wait(t, "good") // the queues keep flowing
}

func TestConsumeSpecValidation(t *testing.T) {
	e := newEnv(t)
	ok := func(context.Context, amqpx.Delivery) error { return nil }
	require.Error(t, e.conn.Consume(context.Background(), amqpx.ConsumerSpec{Bindings: []string{"k"}}, ok))
	require.Error(t, e.conn.Consume(context.Background(), amqpx.ConsumerSpec{Queue: "q"}, ok))
	require.Error(t, e.conn.Consume(context.Background(), amqpx.ConsumerSpec{Queue: "q", Bindings: []string{"k"}}, nil))
	require.Error(t, e.conn.DeclareTopology(amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"k"}}))
	err := e.conn.Consume(context.Background(), amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"k"}}, ok)
	require.ErrorContains(t, err, "DeadLetterQueue", "an exclusive consumer names its shared DLQ")
}

func TestPermanent(t *testing.T) {
	assert.NoError(t, amqpx.Permanent(nil))
	err := fmt.Errorf("handler: %w", amqpx.Permanent(io.ErrUnexpectedEOF))
	assert.True(t, amqpx.IsPermanent(err))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "handler: unexpected EOF", err.Error())
	assert.False(t, amqpx.IsPermanent(io.ErrUnexpectedEOF))
	assert.False(t, amqpx.IsPermanent(nil))
}
