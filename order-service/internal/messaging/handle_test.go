package messaging_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/orderingtest"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/eventschema"
)

func schemas(t testing.TB) *eventschema.Validator {
	t.Helper()
	v, err := eventschema.New()
	require.NoError(t, err)
	return v
}

// stockResults is the stock-result handler over a running application layer.
func stockResults(t *testing.T, o orderingtest.Options) (*messaging.StockResults, *orderingtest.Stack) {
	t.Helper()
	stack := orderingtest.Start(t, o)
	return messaging.NewStockResults(stack.Service, schemas(t), stack.Log, nil, nil), stack
}

func pendingOrder(t *testing.T, s *orderingtest.Stack) ordering.Order {
	t.Helper()
	o, _, err := s.Service.PlaceOrder(context.Background(), ordering.Placement{Request: ordering.Request{ProductID: 2, Qty: 1}, CorrelationID: "req-1"})
	require.NoError(t, err)
	return o
}

// result is one entry of a stock.results; token "" leaves orderEventId out (the original's orders).
func result(orderID int64, token, outcome string) string {
	ev := ""
	if token != "" {
		ev = `"orderEventId":"` + token + `",`
	}
	return fmt.Sprintf(`{"orderId":%d,%s"productId":2,"qty":1,"outcome":"%s"}`, orderID, ev, outcome)
}

func results(entries ...string) amqpx.Delivery {
	return amqpx.Delivery{RoutingKey: "stock.results", CorrelationID: "req-1", Body: []byte(`{"eventId":"` + uuid.NewString() +
		`","results":[` + strings.Join(entries, ",") + `],"decidedAt":"2026-11-25T10:00:00Z"}`)}
}

func TestStockResultsSettleOrdersOnce(t *testing.T) {
	h, s := stockResults(t, orderingtest.Options{})
	ctx := context.Background()
	confirmed, rejected := pendingOrder(t, s), pendingOrder(t, s)
	batch := results(result(confirmed.ID, confirmed.Token.String(), "RESERVED"), result(rejected.ID, rejected.Token.String(), "INSUFFICIENT_STOCK"))
	require.NoError(t, h.Handle(ctx, batch))
	require.NoError(t, h.Handle(ctx, batch), "a redelivery is acked and changes nothing")
	// A contradicting late result for a final order changes nothing either.
	require.NoError(t, h.Handle(ctx, results(result(confirmed.ID, confirmed.Token.String(), "PRODUCT_NOT_FOUND"))))

	o, err := s.Service.GetOrder(ctx, confirmed.ID)
	require.NoError(t, err)
	assert.Equal(t, ordering.Confirmed, o.Status)
	o, err = s.Service.GetOrder(ctx, rejected.ID)
	require.NoError(t, err)
	assert.Equal(t, ordering.Rejected, o.Status)
	assert.Equal(t, "INSUFFICIENT_STOCK", o.RejectReason)
	assert.Zero(t, s.Count(t, "outbox WHERE routing_key = 'order.cancelled'"), "nothing to compensate")
}

// A reservation for an order this service does not have — forged, orphaned, or naming one of
// ours with another token — gives its stock back; the original system's orders are acked and
// counted; malformed messages go to the DLQ.
func TestUnknownReservationsAreCompensatedAndForeignOnesCounted(t *testing.T) {
	h, s := stockResults(t, orderingtest.Options{})
	ctx := context.Background()
	mine := pendingOrder(t, s)
	forged := uuid.NewString()
	require.NoError(t, h.Handle(ctx, results(
		result(987654, forged, "RESERVED"),                     // an order we never created
		result(mine.ID, uuid.NewString(), "RESERVED"),          // our id, someone else's order
		result(987655, uuid.NewString(), "INSUFFICIENT_STOCK"), // reserved nothing: nothing to give back
		result(mine.ID, "", "RESERVED"),                        // the original system's order with our id
	)))
	var payloads []string
	rows, err := s.DB.Query("SELECT payload FROM outbox WHERE routing_key = 'order.cancelled' ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		payloads = append(payloads, p)
		require.NoError(t, schemas(t).Validate("OrderCancelled", []byte(p)))
	}
	require.Len(t, payloads, 2, "the two reservations that took stock are given back")
	assert.Contains(t, payloads[0], `"orderEventId":"`+forged+`"`)
	assert.Contains(t, payloads[0], `"reason":"UNKNOWN_ORDER"`)
	o, err := s.Service.GetOrder(ctx, mine.ID)
	require.NoError(t, err)
	assert.Equal(t, ordering.Pending, o.Status, "a result for someone else's order never settles ours")
	assert.Positive(t, s.Relay.Count())

	for _, body := range []string{`nope`, `{}`, `{"eventId":"x","results":[],"decidedAt":"2026-11-25T10:00:00Z"}`,
		strings.Replace(string(results(result(1, uuid.NewString(), "RESERVED")).Body), `"RESERVED"`, `"MAYBE"`, 1)} {
		err := h.Handle(ctx, amqpx.Delivery{RoutingKey: "stock.results", Body: []byte(body)})
		require.True(t, amqpx.IsPermanent(err), "%s goes to the DLQ: %v", body, err)
	}
	require.True(t, amqpx.IsPermanent(h.Handle(ctx, amqpx.Delivery{RoutingKey: "stock.reserved", Body: []byte(`{}`)})))
}

func TestStockResultsWhenMySQLIsDownAreRetried(t *testing.T) {
	h, stack := stockResults(t, orderingtest.Options{MySQLViaProxy: true})
	stack.MySQLProxy.Down()
	err := h.Handle(context.Background(), results(result(1, uuid.NewString(), "RESERVED")))
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
	h := &messaging.ProductChanges{Prices: prices, Schema: schemas(t), Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	ev := `"eventId":"` + uuid.NewString() + `",`
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "product.updated",
		Body: []byte(`{` + ev + `"productId":4,"name":"n","price":12.5,"qty":3,"updatedAt":"2030-01-01T00:00:00Z"}`)}))
	p, err := prices.Get(ctx, 4)
	require.NoError(t, err)
	assert.Equal(t, money.FromCents(1250), p.Price, "the event's price, without asking product-service")
	assert.Zero(t, loads)
	require.NoError(t, h.Handle(ctx, amqpx.Delivery{RoutingKey: "product.deleted", Body: []byte(`{` + ev + `"productId":4,"deletedAt":"2030-01-01T00:00:00Z"}`)}))
	_, err = prices.Get(ctx, 4)
	require.ErrorIs(t, err, ordering.ErrProductNotFound)
	for key, body := range map[string]string{
		"product.updated": `x`, "product.deleted": `[]`, "order.created": `{}`,
		// A price below the domain's minimum never reaches the cache.
		"product.updated ": `{` + ev + `"productId":4,"name":"n","price":-5,"qty":3,"updatedAt":"2030-01-01T00:00:00Z"}`,
	} {
		assert.True(t, amqpx.IsPermanent(h.Handle(ctx, amqpx.Delivery{RoutingKey: strings.TrimSpace(key), Body: []byte(body)})), key)
	}
}
