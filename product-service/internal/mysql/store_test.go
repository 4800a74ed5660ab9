package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/mysql"
)

func productEvent(p catalog.Product, corr string) (outbox.Event, error) {
	body, err := json.Marshal(map[string]any{"productId": p.ID, "qty": p.Qty})
	return outbox.Event{ID: uuid.NewString(), RoutingKey: "product.updated", Payload: body, CorrelationID: corr}, err
}

// resultsEvent records every result of the batch in its payload.
func resultsEvent(rs []catalog.StockResult) (outbox.Event, error) {
	var orders []map[string]any
	for _, r := range rs {
		orders = append(orders, map[string]any{"orderId": r.Request.OrderID, "outcome": r.Outcome})
	}
	body, err := json.Marshal(orders)
	return outbox.Event{ID: uuid.NewString(), RoutingKey: "stock.results", Payload: body, CorrelationID: rs[0].Request.CorrelationID}, err
}

var events = mysql.Events{Updated: productEvent, Deleted: productEvent, Results: resultsEvent}

func newStoreWith(t *testing.T, ev mysql.Events) (*mysql.Store, *sql.DB) {
	t.Helper()
	dsn := testkit.NewDatabase(t, "product_store")
	require.NoError(t, mysql.Migrate(dsn))
	open := func(multi bool) *sql.DB {
		db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 8, MultiStatements: multi})
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	db := open(false)
	return mysql.NewStore(db, open(true), ev, 0), db
}

func newStore(t *testing.T) (*mysql.Store, *sql.DB) { return newStoreWith(t, events) }

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(q, args...).Scan(&n))
	return n
}

func reserve(t *testing.T, s *mysql.Store, reqs ...catalog.StockRequest) []catalog.Outcome {
	t.Helper()
	res, err := s.ApplyStock(context.Background(), reqs)
	require.NoError(t, err)
	out := make([]catalog.Outcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
		assert.Equal(t, reqs[i], r.Request)
	}
	return out
}

func TestReservationsAreDecidedOnceInArrivalOrder(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Lamp", Price: money.FromCents(1999), Qty: 3}, "req-0")
	require.NoError(t, err)
	q, err := s.Create(ctx, catalog.Input{Name: "Pen", Price: money.FromCents(100), Qty: 1}, "req-0")
	require.NoError(t, err)

	assert.Equal(t, []catalog.Outcome{catalog.Reserved}, reserve(t, s, catalog.StockRequest{OrderID: 1, ProductID: p.ID, Qty: 2, CorrelationID: "req-1"}))
	assert.Equal(t, []catalog.Outcome{catalog.AlreadyProcessed, catalog.InsufficientStock, catalog.Reserved, catalog.ProductMissing, catalog.Reserved, catalog.AlreadyProcessed},
		reserve(t, s,
			catalog.StockRequest{OrderID: 1, ProductID: p.ID, Qty: 2}, // a redelivery: no second decrement, no event
			catalog.StockRequest{OrderID: 2, ProductID: p.ID, Qty: 2}, // 1 left
			catalog.StockRequest{OrderID: 3, ProductID: p.ID, Qty: 1},
			catalog.StockRequest{OrderID: 4, ProductID: 999, Qty: 1},
			catalog.StockRequest{OrderID: 5, ProductID: q.ID, Qty: 1},
			catalog.StockRequest{OrderID: 5, ProductID: q.ID, Qty: 1}, // the same order twice in a batch
		))
	for id, want := range map[int64]int32{p.ID: 0, q.ID: 0} {
		got, err := s.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, got.Qty)
	}
	assert.Equal(t, 2, count(t, db, "SELECT COUNT(*) FROM outbox WHERE routing_key = 'stock.results'"), "one results event per transaction")
	var payload string
	require.NoError(t, db.QueryRow("SELECT payload FROM outbox WHERE routing_key = 'stock.results' ORDER BY id DESC LIMIT 1").Scan(&payload))
	assert.JSONEq(t, `[{"orderId":2,"outcome":"INSUFFICIENT_STOCK"},{"orderId":3,"outcome":"RESERVED"},{"orderId":4,"outcome":"PRODUCT_NOT_FOUND"},{"orderId":5,"outcome":"RESERVED"}]`,
		payload, "the batch's decided reservations, not its redeliveries")
	assert.Equal(t, 5, count(t, db, "SELECT COUNT(*) FROM processed_orders"))
	assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM outbox WHERE correlation_id = 'req-1'"), "the order's request ID travels on")
	assert.Equal(t, []catalog.Outcome{catalog.AlreadyProcessed}, reserve(t, s, catalog.StockRequest{OrderID: 2, ProductID: p.ID, Qty: 2}),
		"a batch of orders all processed commits nothing")
}

func TestConcurrentBatchesWithTheSameOrderConflictInsteadOfApplyingTwice(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Mug", Price: money.FromCents(500), Qty: 100}, "")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	reserved := 0
	for range 10 {
		wg.Go(func() {
			res, err := s.ApplyStock(ctx, []catalog.StockRequest{{OrderID: 42, ProductID: p.ID, Qty: 5}})
			if err != nil {
				assert.ErrorIs(t, err, catalog.ErrReservationConflict)
				return
			}
			if res[0].Outcome == catalog.Reserved {
				mu.Lock()
				reserved++
				mu.Unlock()
			} else {
				assert.Equal(t, catalog.AlreadyProcessed, res[0].Outcome)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, reserved)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(95), got.Qty)
}

func TestProductCRUDAndPages(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	var ids []int64
	for _, name := range []string{"a", "b", "c"} {
		p, err := s.Create(ctx, catalog.Input{Name: name, Price: money.FromCents(100), Qty: 1}, "")
		require.NoError(t, err)
		ids = append(ids, p.ID)
	}
	page, err := s.List(ctx, 0, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	rest, err := s.List(ctx, page[1].ID, 10)
	require.NoError(t, err)
	require.Len(t, rest, 1)
	assert.Equal(t, ids[2], rest[0].ID)

	up, err := s.Update(ctx, ids[0], func(p catalog.Product) (catalog.Input, error) {
		return catalog.Input{Name: p.Name + "!", Price: p.Price, Qty: 9}, nil
	}, "")
	require.NoError(t, err)
	assert.Equal(t, "a!", up.Name)
	assert.Equal(t, int32(9), up.Qty)
	_, err = s.Update(ctx, 999, func(p catalog.Product) (catalog.Input, error) { return catalog.Input{}, nil }, "")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.Update(ctx, ids[0], func(p catalog.Product) (catalog.Input, error) { return catalog.Input{}, assert.AnError }, "")
	require.ErrorIs(t, err, assert.AnError, "a refused change is not stored")

	gone, err := s.Delete(ctx, ids[1], "")
	require.NoError(t, err)
	assert.Equal(t, "b", gone.Name)
	_, err = s.Get(ctx, ids[1])
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.Delete(ctx, ids[1], "")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	assert.Equal(t, 5, count(t, db, "SELECT COUNT(*) FROM outbox"), "3 creates, 1 update, 1 delete")
	got, err := s.Get(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, "a!", got.Name)
}

func TestAFailingEventEncoderRollsTheChangeBack(t *testing.T) {
	boom := func(catalog.Product, string) (outbox.Event, error) { return outbox.Event{}, assert.AnError }
	s, db := newStoreWith(t, mysql.Events{Updated: boom, Deleted: boom,
		Results: func([]catalog.StockResult) (outbox.Event, error) { return outbox.Event{}, assert.AnError }})
	ctx := context.Background()
	_, err := s.Create(ctx, catalog.Input{Name: "x", Price: money.FromCents(1), Qty: 1}, "")
	require.ErrorIs(t, err, assert.AnError)
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM products"))
	_, err = db.Exec("INSERT INTO products (name, price, qty) VALUES ('y', 1, 5)")
	require.NoError(t, err)
	_, err = s.ApplyStock(ctx, []catalog.StockRequest{{OrderID: 9, ProductID: 1, Qty: 1}})
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, 5, count(t, db, "SELECT qty FROM products"), "no decrement without its event")
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM processed_orders"))
}

func TestStoreReportsMySQLDown(t *testing.T) {
	dsn := testkit.NewDatabase(t, "product_store")
	require.NoError(t, mysql.Migrate(dsn))
	viaProxy, proxy := testkit.MySQLViaProxy(t, dsn)
	db, err := dbx.Open(context.Background(), viaProxy, dbx.PoolConfig{MaxOpen: 2, MultiStatements: true})
	require.NoError(t, err)
	defer db.Close()
	s := mysql.NewStore(db, db, events, 0)
	proxy.Down()
	ctx := context.Background()
	_, err = s.Get(ctx, 1)
	require.Error(t, err)
	require.NotErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.List(ctx, 0, 10)
	require.Error(t, err)
	_, err = s.Create(ctx, catalog.Input{Name: "x", Price: money.FromCents(1), Qty: 1}, "")
	require.Error(t, err)
	_, err = s.ApplyStock(ctx, []catalog.StockRequest{{OrderID: 1, ProductID: 1, Qty: 1}})
	require.Error(t, err)
	assert.True(t, dbx.IsUnavailable(err))
	assert.NotErrorIs(t, err, catalog.ErrReservationConflict)
	require.Error(t, s.Ping(ctx))
	require.ErrorContains(t, mysql.Migrate("root@tcp(127.0.0.1:1)/productdb?timeout=1s"), "productdb")
}

func TestCancellationsGiveReservationsBackOnceAndKeepTheTwoSystemsApart(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Lamp", Price: money.FromCents(100), Qty: 10}, "")
	require.NoError(t, err)
	ours := catalog.StockRequest{OrderID: 3, ProductID: p.ID, Qty: 4, OrderEventID: "0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10"}
	original := catalog.StockRequest{OrderID: 3, ProductID: p.ID, Qty: 2} // the original system's order 3
	assert.Equal(t, []catalog.Outcome{catalog.Reserved, catalog.Reserved}, reserve(t, s, ours, original),
		"two systems' order 3 are two orders")
	cancel := ours
	cancel.Release = true
	assert.Equal(t, []catalog.Outcome{catalog.Released}, reserve(t, s, cancel))
	assert.Equal(t, []catalog.Outcome{catalog.NothingToRelease, catalog.AlreadyProcessed}, reserve(t, s, cancel, ours), "once only")
	early := catalog.StockRequest{Release: true, OrderID: 8, ProductID: p.ID, Qty: 1, OrderEventID: "8c9d1e5e-8d2a-4c1e-9a57-3f7e2b1c9d10"}
	assert.Equal(t, []catalog.Outcome{catalog.CancelledFirst}, reserve(t, s, early))
	late := early
	late.Release = false
	assert.Equal(t, []catalog.Outcome{catalog.AlreadyProcessed}, reserve(t, s, late), "a cancelled order is never reserved")
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(8), got.Qty, "10 − 2 still reserved by the original's order")
	assert.Equal(t, 1, count(t, db, "SELECT COUNT(*) FROM outbox WHERE routing_key = 'stock.results'"), "only reservations are answered")
}
