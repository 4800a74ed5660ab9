package amqpx_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

// onExchange opens a Conn on another exchange of the same broker (deleted after the test).
func (e *env) onExchange(exchange string) *amqpx.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpx.Dial(ctx, amqpx.Config{URL: e.url, Exchange: exchange, ConnectionName: e.t.Name(), DialTimeout: 2 * time.Second},
		amqpxtest.Logger(e.t), nil)
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		for _, x := range []string{exchange, exchange + ".dlx"} {
			_ = c.DeleteExchange(x)
		}
		require.NoError(e.t, c.Close())
	})
	return c
}

// migratingQueue returns a fresh queue name whose queue, DLQ and holding queue are deleted after
// the test.
func (e *env) migratingQueue() string {
	q := e.queue()
	e.t.Cleanup(func() { _ = e.conn.DeleteQueue(q + ".migrating") })
	return q
}

// queueHasArgs reports whether queue exists with exactly these arguments (the broker refuses a
// declaration with any other).
func (e *env) queueHasArgs(queue string, args amqp.Table) error {
	_, err := e.rawChannel().QueueDeclare(queue, true, false, false, false, args)
	return err
}

func (e *env) queueExists(queue string) bool {
	_, err := e.rawChannel().QueueDeclarePassive(queue, true, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false
	}
	require.NoError(e.t, err)
	return true
}

func quorumArgs(exchange, queue string) amqp.Table {
	return amqp.Table{
		"x-queue-type": "quorum", "x-dead-letter-exchange": exchange + ".dlx",
		"x-dead-letter-routing-key": queue + ".dlq", "x-delivery-limit": int64(20),
	}
}

// TestRenamedExchangeMigratesTheQueue: the services start with exchange A, then restart with
// exchange B. Nothing is refused, no message is lost, and the queue ends with B's arguments.
func TestRenamedExchangeMigratesTheQueue(t *testing.T) {
	e := newEnv(t) // exchange A
	spec := amqpx.ConsumerSpec{Queue: e.migratingQueue(), Bindings: []string{"order.created"}, Backoff: time.Millisecond}
	require.NoError(t, e.conn.DeclareTopology(spec))
	for i := range 300 { // more than one move batch
		e.publish(e.conn, "order.created", fmt.Sprintf("old-%d", i), `{}`)
	}

	exchangeB := amqpxtest.Name("test_amqpx_renamed")
	b1, b2 := e.onExchange(exchangeB), e.onExchange(exchangeB)
	// What a service does at start: declare the queues it publishes to (not its own consumer's
	// business to migrate), then publish, then consume.
	require.NoError(t, b1.DeclareTopology(spec), "a queue with old arguments is not a reason to refuse to start")
	e.publish(b1, "order.created", "new-0", `{}`)

	rec := newRecorder()
	h := func(_ context.Context, d amqpx.Delivery) error {
		if string(d.Body) == "poison" {
			return amqpx.Permanent(errors.New("invalid"))
		}
		rec.add(d)
		return nil
	}
	e.consume(b1, spec, h) // two replicas start at once and race to migrate
	e.consume(b2, spec, h)
	e.publish(b2, "order.created", "new-1", `{}`)

	want := map[string]bool{"new-0": true, "new-1": true}
	for i := range 300 {
		want[fmt.Sprintf("old-%d", i)] = true
	}
	deadline := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case id := <-rec.seen:
			delete(want, id)
		case <-deadline:
			t.Fatalf("%d messages never arrived, e.g. %v", len(want), first(want))
		}
	}

	rec.mu.Lock()
	for _, d := range rec.got { // moved through the dead-letter exchange under the holding queue's name
		assert.Equal(t, "order.created", d.RoutingKey, "%s keeps its routing key", d.MessageID)
		assert.NotContains(t, d.Headers, "x-moved-routing-key", "%s: the mover's header is not the handler's business", d.MessageID)
	}
	rec.mu.Unlock()

	require.Eventually(t, func() bool { return !e.queueExists(spec.Queue + ".migrating") }, 10*time.Second, 50*time.Millisecond,
		"the holding queue is gone")
	require.NoError(t, e.queueHasArgs(spec.Queue, quorumArgs(exchangeB, spec.Queue)), "the queue has B's arguments now")

	// Dead-lettering goes through B's dead-letter exchange to the same DLQ.
	e.publish(b1, "order.created", "bad", "poison")
	d := e.getOne(e.rawChannel(), spec.Queue+".dlq")
	assert.Equal(t, "bad", d.MessageId)
}

// TestMigrationResumesFromTheHoldingQueue: a migration cut after the old queue was deleted left
// messages in the holding queue; the next start of the consumer moves them in.
func TestMigrationResumesFromTheHoldingQueue(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.migratingQueue(), Bindings: []string{"k"}}
	ch := e.rawChannel()
	_, err := ch.QueueDeclare(spec.Queue+".migrating", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	require.NoError(t, err)
	for _, id := range []string{"held-1", "held-2"} {
		require.NoError(t, ch.PublishWithContext(context.Background(), "", spec.Queue+".migrating", false, false,
			amqp.Publishing{MessageId: id, Body: []byte(`{}`), DeliveryMode: amqp.Persistent}))
	}
	rec := newRecorder()
	e.consume(e.conn, spec, func(_ context.Context, d amqpx.Delivery) error { rec.add(d); return nil })
	rec.wait(t, "held-1")
	rec.wait(t, "held-2")
	assert.False(t, e.queueExists(spec.Queue+".migrating"))
}

// TestClassicQueueIsMigratedToQuorum: a queue created classic (by the original system, or an
// older version of ours) becomes the configured quorum queue, messages included.
func TestClassicQueueIsMigratedToQuorum(t *testing.T) {
	e := newEnv(t)
	spec := amqpx.ConsumerSpec{Queue: e.migratingQueue(), Bindings: []string{"order.created"}}
	ch := e.rawChannel()
	_, err := ch.QueueDeclare(spec.Queue, true, false, false, false, nil) // like the original's
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(spec.Queue, "order.created", e.exchange, false, nil))
	e.publish(e.conn, "order.created", "legacy", `{"orderId":3}`)

	rec := newRecorder()
	e.consume(e.conn, spec, func(_ context.Context, d amqpx.Delivery) error { rec.add(d); return nil })
	rec.wait(t, "legacy")
	require.NoError(t, e.queueHasArgs(spec.Queue, quorumArgs(e.exchange, spec.Queue)))
}

func first(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}
