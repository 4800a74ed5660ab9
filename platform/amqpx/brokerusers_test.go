package amqpx_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

// The services' broker users as infra/rabbitmq/definitions.json creates them (make infra,
// compose; the same file for Kubernetes), in a private virtual host.
func serviceUsers(t *testing.T) amqpxtest.Broker {
	t.Helper()
	return amqpxtest.ImportUsers(t, filepath.Join("..", "..", "infra", "rabbitmq", "definitions.json"))
}

// dialAs opens a Conn on the exchange "orders" as the given URL's user.
func dialAs(t *testing.T, url, name string) *amqpx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpx.Dial(ctx, amqpx.Config{URL: url, Exchange: "orders", ConnectionName: name, DialTimeout: 2 * time.Second},
		amqpxtest.Logger(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func publishAs(c *amqpx.Conn, key, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Publish(ctx, []amqpx.Message{{RoutingKey: key, MessageID: id, Body: []byte(`{}`)}})
}

// The queues of the two services, as their app packages declare them.
var (
	orderCreated = amqpx.ConsumerSpec{Queue: "product-service__order-created", Bindings: []string{"order.created", "order.cancelled"}, Backoff: time.Millisecond}
	stockResults = amqpx.ConsumerSpec{Queue: "order-service__stock-results", Bindings: []string{"stock.results"}}
	priceChanges = amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"product.updated", "product.deleted"},
		DeadLetterQueue: "order-service__product-changes.dlq"}
)

// TestServiceBrokerUsers runs as the services' least-privilege users, in one private virtual
// host (creating one costs several seconds of rabbitmqctl).
func TestServiceBrokerUsers(t *testing.T) {
	b := serviceUsers(t)
	t.Run("the original's classic queue is migrated under the service's user", func(t *testing.T) {
		theOriginalsClassicQueueIsMigrated(t, b)
	})
	t.Run("each user publishes only its own routing keys", func(t *testing.T) { eachUserPublishesOnlyItsOwnKeys(t, b) })
	t.Run("users cannot touch what is not theirs", func(t *testing.T) { usersCannotTouchWhatIsNotTheirs(t, b) })
}

func eachUserPublishesOnlyItsOwnKeys(t *testing.T, b amqpxtest.Broker) {
	product := dialAs(t, b.Users["product-service"], "product-service")
	order := dialAs(t, b.Users["order-service"], "order-service")

	// Everything each service does at start is allowed.
	require.NoError(t, product.DeclareTopology(orderCreated))
	require.NoError(t, order.DeclareTopology(stockResults))
	require.NoError(t, order.DeclareTopology(orderCreated), "order-service declares product-service's queue before it publishes")
	ctx, stop := context.WithCancel(context.Background())
	consumed := make(chan string, 10)
	done := make(chan error, 3)
	go func() {
		done <- product.Consume(ctx, orderCreated, func(_ context.Context, d amqpx.Delivery) error {
			if d.MessageID == "poison" {
				return amqpx.Permanent(errors.New("invalid OrderCreated"))
			}
			consumed <- d.MessageID
			return nil
		})
	}()
	go func() {
		done <- order.Consume(ctx, stockResults, func(_ context.Context, d amqpx.Delivery) error { consumed <- d.MessageID; return nil })
	}()
	go func() {
		done <- order.Consume(ctx, priceChanges, func(context.Context, amqpx.Delivery) error { return nil })
	}()
	t.Cleanup(func() {
		stop()
		for range 3 {
			assert.NoError(t, <-done)
		}
	})

	// Their own keys flow.
	require.NoError(t, publishAs(order, "order.created", "o1"))
	require.NoError(t, publishAs(product, "stock.results", "s1"))
	require.NoError(t, publishAs(product, "product.updated", "p1"))
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case id := <-consumed:
			got[id] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("consumed only %v", got)
		}
	}

	// A forged order.created with product-service's credentials is refused by the broker, and
	// so is every other key a service does not own.
	for _, forged := range []struct {
		conn *amqpx.Conn
		user string
		key  string
	}{
		{product, "product-service", "order.created"},
		{product, "product-service", "order.cancelled"},
		{order, "order-service", "stock.results"},
		{order, "order-service", "product.updated"},
	} {
		err := publishAs(forged.conn, forged.key, "forged")
		require.Error(t, err, "%s publishing %s", forged.user, forged.key)
		assert.Contains(t, err.Error(), "ACCESS_REFUSED", "%s publishing %s", forged.user, forged.key)
	}
	// The refusal closed only the publishing channel: the next legitimate publish goes out.
	require.NoError(t, publishAs(product, "stock.results", "s2"))
	require.NoError(t, publishAs(order, "order.created", "poison"))
	admin, err := amqp.Dial(b.Admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	ch, err := admin.Channel()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		q, err := ch.QueueDeclarePassive(orderCreated.Queue+".dlq", true, false, false, false, nil)
		return err == nil && q.Messages == 1
	}, 15*time.Second, 50*time.Millisecond, "dead-lettering works under the service's own user")
	for seen := false; !seen; {
		select {
		case id := <-consumed:
			require.NotEqual(t, "forged", id, "a forged message got through")
			seen = id == "s2"
		case <-time.After(15 * time.Second):
			t.Fatal("s2 never arrived")
		}
	}
}

func usersCannotTouchWhatIsNotTheirs(t *testing.T, b amqpxtest.Broker) {
	product := dialAs(t, b.Users["product-service"], "product-service")

	// product-service may not bind a queue to keys it does not consume (topic read), declare
	// another service's queue (configure), or publish through the default exchange, which would
	// reach any queue by name past the topic permissions.
	err := product.DeclareTopology(amqpx.ConsumerSpec{Queue: "product-service__spy", Bindings: []string{"stock.results"}})
	assert.ErrorContains(t, err, "ACCESS_REFUSED")
	err = product.DeclareTopology(stockResults)
	assert.ErrorContains(t, err, "ACCESS_REFUSED")
	conn, err := amqp.Dial(b.Users["product-service"])
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	require.NoError(t, ch.Confirm(false))
	dc, err := ch.PublishWithDeferredConfirm("", orderCreated.Queue, false, false, amqp.Publishing{Body: []byte(`{"orderId":1}`)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, _ := dc.WaitContext(ctx)
	assert.False(t, ack, "the default exchange must refuse product-service")
	select {
	case e := <-closed:
		require.NotNil(t, e)
		assert.Equal(t, amqp.AccessRefused, e.Code, e.Reason)
	case <-ctx.Done():
		t.Fatal("the broker did not close the channel")
	}
}

// theOriginalsClassicQueueIsMigrated: the original system declared
// product-service__order-created as a classic queue without arguments; our product-service,
// logged in as its least-privilege user, migrates it at start and keeps its messages.
func theOriginalsClassicQueueIsMigrated(t *testing.T, b amqpxtest.Broker) {
	admin, err := amqp.Dial(b.Admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	ch, err := admin.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDeclare(orderCreated.Queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(orderCreated.Queue, "order.created", "orders", false, nil))
	require.NoError(t, ch.PublishWithContext(context.Background(), "orders", "order.created", false, false,
		amqp.Publishing{MessageId: "legacy-3", Body: []byte(`{"orderId":3}`), DeliveryMode: amqp.Persistent}))

	product := dialAs(t, b.Users["product-service"], "product-service")
	ctx, stop := context.WithCancel(context.Background())
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- product.Consume(ctx, orderCreated, func(_ context.Context, d amqpx.Delivery) error { got <- d.MessageID; return nil })
	}()
	t.Cleanup(func() { stop(); assert.NoError(t, <-done) })
	select {
	case id := <-got:
		assert.Equal(t, "legacy-3", id)
	case <-time.After(30 * time.Second):
		t.Fatal("the original's message was not consumed after the migration")
	}
	_, err = ch.QueueDeclare(orderCreated.Queue, true, false, false, false, amqp.Table{
		"x-queue-type": "quorum", "x-dead-letter-exchange": "orders.dlx",
		"x-dead-letter-routing-key": orderCreated.Queue + ".dlq", "x-delivery-limit": int64(20),
	})
	require.NoError(t, err, "now the configured quorum queue")
}
