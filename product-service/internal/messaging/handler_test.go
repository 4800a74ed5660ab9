package messaging_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/messaging"
	"github.com/shopworks/shop/product-service/internal/mysql"
)

// saga is the order.created handler wired as in the app — group commit over the real store.
type saga struct {
	db      *sql.DB
	store   *mysql.Store
	handler *messaging.OrderCreatedHandler
	batcher *messaging.Batcher
	mu      sync.Mutex
	touched map[int64]int
}

func newSaga(t *testing.T, batch messaging.BatchReserver, isConflict func(error) bool) *saga {
	t.Helper()
	dsn := testkit.NewDatabase(t, "product_saga")
	require.NoError(t, mysql.Migrate(dsn))
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s := &saga{db: db, store: mysql.NewStore(db), touched: map[int64]int{}}
	if batch == nil {
		batch = func(ctx context.Context, reqs []catalog.ReservationRequest, corr map[int64]string) ([]catalog.ReservationResult, error) {
			return s.store.ReserveBatch(ctx, reqs, func(r catalog.ReservationResult) ([]outbox.Event, error) {
				return messaging.ReservationEvents(corr[r.Request.OrderID], time.Now)(r)
			})
		}
	}
	s.batcher = messaging.NewBatcher(8, batch,
		func(ctx context.Context, req catalog.ReservationRequest, corr string) (catalog.ReservationResult, error) {
			return s.store.Reserve(ctx, req, messaging.ReservationEvents(corr, time.Now))
		},
		isConflict,
		func(_ context.Context, productID int64) { s.mu.Lock(); s.touched[productID]++; s.mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.batcher.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s.handler = messaging.NewOrderCreatedHandler(s.batcher.Reserve, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s
}

func (s *saga) product(t *testing.T, qty int32) int64 {
	t.Helper()
	p, err := s.store.Create(context.Background(), catalog.Input{Name: "p", Price: money.FromCents(100), Qty: qty},
		func(catalog.Product) ([]outbox.Event, error) { return nil, nil })
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
	p, err := s.store.Get(context.Background(), id)
	require.NoError(t, err)
	return p.Qty
}

func TestConcurrentOrdersNeverOversellAndDuplicatesApplyOnce(t *testing.T) {
	s := newSaga(t, nil, mysql.IsBatchConflict)
	pid := s.product(t, 10)
	var wg sync.WaitGroup
	for i := 1; i <= 30; i++ {
		for range 2 { // every message delivered twice, concurrently
			wg.Go(func() { assert.NoError(t, s.handler.Handle(context.Background(), orderCreated(int64(i), pid, 1))) })
		}
	}
	wg.Wait()
	assert.Equal(t, int32(0), s.qty(t, pid), "stock never goes negative")
	var reserved, rejected int
	require.NoError(t, s.db.QueryRow("SELECT COUNT(*) FROM processed_orders WHERE outcome = 'RESERVED'").Scan(&reserved))
	require.NoError(t, s.db.QueryRow("SELECT COUNT(*) FROM processed_orders WHERE outcome = 'INSUFFICIENT_STOCK'").Scan(&rejected))
	assert.Equal(t, 10, reserved)
	assert.Equal(t, 20, rejected)
	var events int
	require.NoError(t, s.db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&events))
	assert.Equal(t, 30, events, "one stock result per order, never two")
	s.mu.Lock()
	assert.Positive(t, s.touched[pid], "the product's cache is invalidated after its stock changed")
	s.mu.Unlock()
}

func TestMalformedAndInvalidOrdersAreDeadLettered(t *testing.T) {
	s := newSaga(t, nil, mysql.IsBatchConflict)
	err := s.handler.Handle(context.Background(), amqpx.Delivery{RoutingKey: "order.created", Body: []byte(`{"orderId":1}`)})
	assert.True(t, amqpx.IsPermanent(err))
	err = s.handler.Handle(context.Background(), orderCreated(1, 1, 0))
	assert.True(t, amqpx.IsPermanent(err))
}

func TestAFailingBatchIsReplayedOneAtATime(t *testing.T) {
	var calls int
	var mu sync.Mutex
	failing := func(context.Context, []catalog.ReservationRequest, map[int64]string) ([]catalog.ReservationResult, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return nil, errors.New("deadlock found when trying to get lock")
	}
	// Whatever the batch size (concurrency decides it), a conflicting batch is replayed order by order.
	s := newSaga(t, failing, func(error) bool { return true })
	pid := s.product(t, 5)
	var wg sync.WaitGroup
	for i := 1; i <= 4; i++ {
		wg.Go(func() { assert.NoError(t, s.handler.Handle(context.Background(), orderCreated(int64(i), pid, 1))) })
	}
	wg.Wait()
	assert.Equal(t, int32(1), s.qty(t, pid), "every order reserved by the one-at-a-time path")
	mu.Lock()
	assert.Positive(t, calls)
	mu.Unlock()
}

func TestReservationsFailTransientlyWhenMySQLIsDown(t *testing.T) {
	s := newSaga(t, nil, mysql.IsBatchConflict)
	pid := s.product(t, 5)
	require.NoError(t, s.db.Close())
	err := s.handler.Handle(context.Background(), orderCreated(1, pid, 1))
	require.Error(t, err)
	assert.False(t, amqpx.IsPermanent(err), "retried (and requeued), never dead-lettered")
}

func TestAStoppedBatcherRefusesWork(t *testing.T) {
	b := messaging.NewBatcher(0, nil, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, b.Run(ctx))
	short, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	_, err := b.Reserve(short, catalog.ReservationRequest{OrderID: 1, ProductID: 1, Qty: 1}, "")
	require.Error(t, err)
}
