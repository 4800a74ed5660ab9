package messaging_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/eventschema"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/catalogtest"
	"github.com/shopworks/shop/product-service/internal/messaging"
)

// saga is the order.created handler over a running application layer, wired as in the app.
type saga struct {
	*catalogtest.Stack
	handler *messaging.OrderEvents
}

func newSaga(t *testing.T, o catalogtest.Options) *saga {
	t.Helper()
	s := catalogtest.Start(t, o)
	return &saga{Stack: s, handler: messaging.NewOrderEvents(s.Service, validator(t), s.Log)}
}

func validator(t *testing.T) *eventschema.Validator {
	t.Helper()
	v, err := eventschema.New()
	require.NoError(t, err)
	return v
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
	assert.Equal(t, 30, results(t, s), "one stock result per order, never two")
	assert.Positive(t, s.Relay.Count(), "the relay was woken")
}

// results counts the stock results in the outbox's stock.results events.
func results(t *testing.T, s *saga) int {
	t.Helper()
	rows, err := s.DB.Query("SELECT payload FROM outbox WHERE routing_key = 'stock.results'")
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var body []byte
		require.NoError(t, rows.Scan(&body))
		var e events.StockResults
		require.NoError(t, validator(t).Decode(body, &e), "what is published matches its schema")
		n += len(e.Results)
	}
	require.NoError(t, rows.Err())
	return n
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

func orderEvent(key string, orderID, productID int64, qty int, eventID string) amqpx.Delivery {
	body := `{"eventId":"` + eventID + `","orderId":` + strconv.FormatInt(orderID, 10) + `,"productId":` + strconv.FormatInt(productID, 10) +
		`,"qty":` + strconv.Itoa(qty) + `,"totalPrice":1,"createdAt":"2026-11-25T10:00:00Z"}`
	if key == "order.cancelled" {
		body = `{"eventId":"` + uuid.NewString() + `","orderId":` + strconv.FormatInt(orderID, 10) + `,"orderEventId":"` + eventID +
			`","productId":` + strconv.FormatInt(productID, 10) + `,"qty":` + strconv.Itoa(qty) + `,"reason":"CANCELLED_BY_CLIENT","cancelledAt":"2026-11-25T10:00:01Z"}`
	}
	return amqpx.Delivery{RoutingKey: key, Body: []byte(body)}
}

// Cancellations racing their reservations, each delivered twice: stock ends exact.
func TestCancellationsRacingReservationsLeaveStockExact(t *testing.T) {
	s := newSaga(t, catalogtest.Options{})
	pid := s.product(t, 100)
	var wg sync.WaitGroup
	for i := 1; i <= 40; i++ {
		id := uuid.NewString()
		for range 2 {
			wg.Go(func() {
				assert.NoError(t, s.handler.Handle(context.Background(), orderEvent("order.created", int64(i), pid, 2, id)))
			})
			if i%2 == 0 { // every other order is cancelled, racing its reservation
				wg.Go(func() {
					assert.NoError(t, s.handler.Handle(context.Background(), orderEvent("order.cancelled", int64(i), pid, 2, id)))
				})
			}
		}
	}
	wg.Wait()
	assert.Equal(t, int32(100-20*2), s.qty(t, pid), "the 20 orders not cancelled hold their stock; the others gave it back or never took it")
}
