package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/testkit"
)

// TestRenamedExchangeIsMigrated restarts both services with another AMQP_EXCHANGE while
// order.created events wait in product-service's queue (product-service was down when the
// orders were placed). The renamed exchange changes the queues' dead-letter exchange, an argument
// RabbitMQ never changes: the services migrate their queues at start instead of refusing to
// start, the waiting orders are reserved and confirmed, and new orders flow through the new
// exchange.
func TestRenamedExchangeIsMigrated(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Renamed", money.FromCents(500), 100)
	ids := s.placeOrders(t, p.Id, 1, 1) // warms order-service's price cache
	s.waitFinal(t, ids, 30*time.Second)

	s.product.stop(t)
	waiting := s.placeOrders(t, p.Id, 5, 2) // priced from the cache; their events wait in the queue
	time.Sleep(500 * time.Millisecond)      // the outbox relay published them to the old exchange
	s.order.stop(t)

	renamed := s.exchange + "_renamed"
	for _, svc := range []*service{s.product, s.order} {
		svc.env["AMQP_EXCHANGE"] = renamed
	}
	t.Cleanup(func() { // after this test's services stopped (registered after startStack's cleanup: runs before it)
		s.order.stop(t)
		s.product.stop(t)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL(), Exchange: renamed, ConnectionName: "e2e-cleanup"}, nil, nil)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		_ = conn.DeleteExchange(renamed)
		_ = conn.DeleteExchange(renamed + ".dlx")
	})
	s.product.start(t)
	s.order.start(t)
	for _, svc := range []*service{s.product, s.order} {
		assert.Eventually(t, func() bool { return strings.Contains(svc.logs.String(), `"msg":"queue migrated"`) }, 15*time.Second, 50*time.Millisecond,
			"%s migrated its queue", svc.name)
	}

	ids = append(ids, waiting...)
	ids = append(ids, s.placeOrders(t, p.Id, 2, 3)...) // through the new exchange
	for id, st := range s.waitFinal(t, ids, 60*time.Second) {
		assert.Equal(t, orderclient.OrderStatusCONFIRMED, st, "order %d", id)
	}
	assert.Equal(t, int32(100-1-5*2-2*3), s.stock(t, p.Id))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL(), Exchange: renamed, ConnectionName: "e2e-renamed"}, nil, nil)
	require.NoError(t, err)
	defer conn.Close()
	for _, q := range s.queueNames() {
		n, err := conn.QueueDepth(q)
		require.NoError(t, err, q)
		assert.Zero(t, n, "%s is empty: nothing dead-lettered by the migration", q)
		_, err = conn.QueueDepth(q + ".migrating")
		assert.Error(t, err, "%s: no holding queue left behind", q)
	}
}
