package amqpx_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

func TestPublishConfirmRoundTrip(t *testing.T) {
	e := newEnv(t)
	ch := e.rawChannel()
	q, err := ch.QueueDeclare("", false, true, true, false, nil) // exclusive: gone with the test's connection
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, "test.#", e.exchange, false, nil))

	// Concurrent batches on the one Conn: exercised under -race.
	const publishers, perBatch = 8, 5
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			msgs := make([]amqpx.Message, perBatch)
			for i := range msgs {
				id := fmt.Sprintf("m-%d-%d", p, i)
				msgs[i] = amqpx.Message{RoutingKey: "test.created", MessageID: id, CorrelationID: "req-" + id,
					Body: []byte(`{"id":"` + id + `"}`), Timestamp: ts}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			assert.NoError(t, e.conn.Publish(ctx, msgs))
		})
	}
	wg.Wait()

	seen := map[string]bool{}
	for range publishers * perBatch {
		d := e.getOne(ch, q.Name)
		assert.False(t, seen[d.MessageId], "duplicate %s", d.MessageId)
		seen[d.MessageId] = true
		assert.Equal(t, "application/json", d.ContentType)
		assert.Equal(t, amqp.Persistent, d.DeliveryMode)
		assert.Equal(t, "test.created", d.Type)
		assert.Equal(t, "test.created", d.RoutingKey)
		assert.Equal(t, "req-"+d.MessageId, d.CorrelationId)
		assert.JSONEq(t, `{"id":"`+d.MessageId+`"}`, string(d.Body))
		assert.True(t, ts.Equal(d.Timestamp), "timestamp %v", d.Timestamp)
	}
	assert.Len(t, seen, publishers*perBatch)
	assert.Equal(t, float64(publishers*perBatch),
		metric(t, e.reg, "shop_events_published_total", map[string]string{"routing_key": "test.created"}))
	assert.Equal(t, 1.0, metric(t, e.reg, "shop_amqp_connected", nil))
}

func TestPublishRejectsMissingRoutingKey(t *testing.T) {
	e := newEnv(t)
	err := e.conn.Publish(context.Background(), []amqpx.Message{{MessageID: "x", Body: []byte("{}")}})
	require.ErrorContains(t, err, "routing key")
	require.NoError(t, e.conn.Publish(context.Background(), nil), "an empty batch is a no-op")
}

func TestDialFailsFastWhenBrokerUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := amqpx.Dial(ctx, amqpx.Config{URL: "amqp://guest:secret@127.0.0.1:1/", Exchange: "x"}, nil, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret", "the password must not leak into errors")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDialValidatesConfig(t *testing.T) {
	_, err := amqpx.Dial(context.Background(), amqpx.Config{URL: "amqp://127.0.0.1/"}, nil, nil)
	require.ErrorContains(t, err, "Exchange")
	_, err = amqpx.Dial(context.Background(), amqpx.Config{Exchange: "x"}, nil, nil)
	require.ErrorContains(t, err, "URL")
}

func TestQueueDepthOfUnknownQueue(t *testing.T) {
	e := newEnv(t)
	_, err := e.conn.QueueDepth(e.exchange + "_no_such_queue")
	require.Error(t, err)
	// The Conn stays usable after the broker closed the helper's channel.
	e.publish(e.conn, "test.x", "after-404", `{}`)
}

func TestMandatoryKeyWithNoQueueIsNotPublished(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpx.Dial(ctx, amqpx.Config{URL: e.url, Exchange: e.exchange, ConnectionName: t.Name(),
		MustRoute: func(key string) bool { return key == "saga.step" }}, amqpxtest.Logger(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	batch := []amqpx.Message{
		{RoutingKey: "test.info", MessageID: "info-1", Body: []byte(`{}`)}, // not mandatory: dropped silently
		{RoutingKey: "saga.step", MessageID: "step-1", Body: []byte(`{}`)},
	}

	err = c.Publish(ctx, batch)
	require.ErrorIs(t, err, amqpx.ErrUnroutable, "no queue is bound to saga.step yet")
	assert.ErrorContains(t, err, `"saga.step"`)

	// Once a consumer's queue is bound, the retried batch goes through and the step arrives.
	ch := e.rawChannel()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, "saga.step", e.exchange, false, nil))
	require.NoError(t, c.Publish(ctx, batch))
	assert.Equal(t, "step-1", e.getOne(ch, q.Name).MessageId)

	// A batch larger than the return buffer is sent in chunks and still all confirmed.
	big := make([]amqpx.Message, 1500)
	for i := range big {
		big[i] = amqpx.Message{RoutingKey: "saga.step", MessageID: fmt.Sprintf("big-%d", i), Body: []byte(`{}`)}
	}
	require.NoError(t, c.Publish(ctx, big))
	require.NoError(t, ch.QueueUnbind(q.Name, "saga.step", e.exchange, nil))
	require.ErrorIs(t, c.Publish(ctx, big), amqpx.ErrUnroutable)
}
