package messaging_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/catalogtest"
	"github.com/shopworks/shop/product-service/internal/messaging"
)

// saga is the order.created handler over a running application layer, wired as in the app.
type saga struct {
	*catalogtest.Stack
	handler *messaging.OrderCreatedHandler
}

func newSaga(t *testing.T, o catalogtest.Options) *saga {
	t.Helper()
	s := catalogtest.Start(t, o)
	return &saga{Stack: s, handler: messaging.NewOrderCreatedHandler(s.Service, s.Log)}
}

func (s *saga) product(t *testing.T, qty int32) int64 {
	t.Helper()
	p, err := s.Service.CreateProduct(context.Background(), catalog.Input{Name: "p", Price: money.FromCents(100), Qty: qty}, "")
	require.NoError(t, err)
	return p.ID
}

func orderCreated(orderID, productID int64, qty int) amqpx.Delivery {
	return amqpx.Delivery{RoutingKey: "order.created", CorrelationID: "req-" + strconv.FormatInt(orderID, 10),
		Body: []byte(`{"orderId":` + strconv.FormatInt(orderID, 10) + `,"productId":` + strconv.FormatInt(productID, 10) +
			`,"qty":` + strconv.Itoa(qty) + `,"totalPrice":1,"createdAt":"2026-11-25T10:00:00Z"}`)}
}

func (s *saga) qty(t *testing.T, id int64) int32 {
	t.Helper()
	p, err := s.Service.GetProduct(context.Background(), id)
	require.NoError(t, err)
	return p.Qty
}

func TestConcurrentOrdersNeverOversellAndDuplicatesApplyOnce(t *testing.T) {
	s := newSaga(t, catalogtest.Options{Service: catalog.Options{BatchMax: 8}})
	pid := s.product(t, 10)
	var wg sync.WaitGroup
	for i := 1; i <= 30; i++ {
		for range 2 { // every message delivered twice, concurrently
			wg.Go(func() { assert.NoError(t, s.handler.Handle(context.Background(), orderCreated(int64(i), pid, 1))) })
		}
	}
	wg.Wait()
	assert.Equal(t, int32(0), s.qty(t, pid), "stock never goes negative")
	assert.Equal(t, 10, count(t, s, "SELECT COUNT(*) FROM processed_orders WHERE outcome = 'RESERVED'"))
	assert.Equal(t, 20, count(t, s, "SELECT COUNT(*) FROM processed_orders WHERE outcome = 'INSUFFICIENT_STOCK'"))
	assert.Equal(t, 30, count(t, s, "SELECT COUNT(*) FROM outbox WHERE routing_key LIKE 'stock.%'"), "one stock result per order, never two")
	assert.Equal(t, 30, count(t, s, "SELECT COUNT(DISTINCT correlation_id) FROM outbox WHERE routing_key LIKE 'stock.%'"), "each carries its order's request ID")
	assert.Positive(t, s.Relay.Count(), "the relay was woken")
}

func count(t *testing.T, s *saga, q string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB.QueryRow(q).Scan(&n))
	return n
}

func TestMalformedAndInvalidOrdersAreDeadLettered(t *testing.T) {
	s := newSaga(t, catalogtest.Options{})
	err := s.handler.Handle(context.Background(), amqpx.Delivery{RoutingKey: "order.created", Body: []byte(`{"orderId":1}`)})
	assert.True(t, amqpx.IsPermanent(err))
	err = s.handler.Handle(context.Background(), orderCreated(1, 1, 0))
	assert.True(t, amqpx.IsPermanent(err))
}

func TestReservationsFailTransientlyWhenMySQLIsDown(t *testing.T) {
	s := newSaga(t, catalogtest.Options{MySQLViaProxy: true})
	pid := s.product(t, 5)
	s.MySQLProxy.Down()
	err := s.handler.Handle(context.Background(), orderCreated(1, pid, 1))
	require.Error(t, err)
	assert.False(t, amqpx.IsPermanent(err), "retried (and requeued), never dead-lettered")
	s.MySQLProxy.Up()
	require.Eventually(t, func() bool { return s.handler.Handle(context.Background(), orderCreated(1, pid, 1)) == nil }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, int32(4), s.qty(t, pid))
}
