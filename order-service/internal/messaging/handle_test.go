package messaging_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/orderingtest"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/platform/amqpx"
)

// stockResults is the stock-result handler over a running application layer.
func stockResults(t *testing.T) (*messaging.StockResults, *orderingtest.Stack) {
	t.Helper()
	stack := orderingtest.Start(t, orderingtest.Options{})
	return &messaging.StockResults{Orders: stack.Service, Log: stack.Log}, stack
}

func pendingOrder(t *testing.T, s *orderingtest.Stack) ordering.Order {
	t.Helper()
	o, _, err := s.Service.PlaceOrder(context.Background(), ordering.Placement{Request: ordering.Request{ProductID: 2, Qty: 1}, CorrelationID: "req-1"})
	require.NoError(t, err)
	return o
}

func TestStockResultsSettleOrdersOnce(t *testing.T) {
	h, s := stockResults(t)
	ctx := context.Background()
	confirmed, rejected := pendingOrder(t, s), pendingOrder(t, s)

	reserved := amqpx.Delivery{RoutingKey: "stock.reserved", CorrelationID: "req-1",
		Body: []byte(`{"orderId":` + itoa(confirmed.ID) + `,"productId":2,"qty":1}`)}
	require.NoError(t, h.Handle(ctx, reserved))
	require.NoError(t, h.Handle(ctx, reserved), "a redelivery is acked and changes nothing")
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "stock.rejected",
		Body: []byte(`{"orderId":` + itoa(rejected.ID) + `,"productId":2,"qty":1,"reason":"INSUFFICIENT_STOCK"}`)}))
	// A contradicting late result for a final order changes nothing either.
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "stock.rejected",
		Body: []byte(`{"orderId":` + itoa(confirmed.ID) + `,"productId":2,"qty":1,"reason":"INSUFFICIENT_STOCK"}`)}))

	o, err := s.Service.GetOrder(ctx, confirmed.ID)
	require.NoError(t, err)
	assert.Equal(t, ordering.Confirmed, o.Status)
	o, err = s.Service.GetOrder(ctx, rejected.ID)
	require.NoError(t, err)
	assert.Equal(t, ordering.Rejected, o.Status)
	assert.Equal(t, "INSUFFICIENT_STOCK", o.RejectReason)
}

func TestStockResultsForUnknownOrMalformedMessagesArePermanent(t *testing.T) {
	h, _ := stockResults(t)
	err := h.Handle(context.Background(), amqpx.Delivery{RoutingKey: "stock.reserved", Body: []byte(`{"orderId":987654,"productId":2,"qty":1}`)})
	require.True(t, amqpx.IsPermanent(err), "an unknown order goes to the DLQ, not back to the queue: %v", err)
	err = h.Handle(context.Background(), amqpx.Delivery{RoutingKey: "stock.reserved", Body: []byte(`nope`)})
	require.True(t, amqpx.IsPermanent(err))
}

func TestStockResultsWhenMySQLIsDownAreRetried(t *testing.T) {
	stack := orderingtest.Start(t, orderingtest.Options{MySQLViaProxy: true})
	stack.MySQLProxy.Down()
	h := &messaging.StockResults{Orders: stack.Service, Log: stack.Log}
	err := h.Handle(context.Background(), amqpx.Delivery{RoutingKey: "stock.reserved", Body: []byte(`{"orderId":1,"productId":2,"qty":1}`)})
	require.Error(t, err)
	assert.False(t, amqpx.IsPermanent(err), "a transient failure is retried, never dead-lettered")
}

func TestProductChangesKeepThePriceCacheCurrent(t *testing.T) {
	loads := 0
	prices := pricing.New(func(context.Context, int64) (pricing.Entry, error) {
		loads++
		return pricing.Entry{Product: ordering.Product{ID: 4, Price: money.FromCents(100), Qty: 5}}, nil
	}, pricing.Options{})
	defer prices.Close()
	h := &messaging.ProductChanges{Prices: prices, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "product.updated",
		Body: []byte(`{"productId":4,"name":"n","price":12.5,"qty":3,"updatedAt":"2030-01-01T00:00:00Z"}`)}))
	p, err := prices.Get(ctx, 4)
	require.NoError(t, err)
	assert.Equal(t, money.FromCents(1250), p.Price, "the event's price, without asking product-service")
	assert.Zero(t, loads)
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "product.deleted", Body: []byte(`{"productId":4}`)}))
	_, err = prices.Get(ctx, 4)
	require.ErrorIs(t, err, ordering.ErrProductNotFound)
	for key, body := range map[string]string{"product.updated": `x`, "product.deleted": `[]`, "order.created": `{}`} {
		assert.True(t, amqpx.IsPermanent(h.Handle(ctx, amqpx.Delivery{RoutingKey: key, Body: []byte(body)})), key)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
