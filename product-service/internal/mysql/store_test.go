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

func newStore(t *testing.T) (*mysql.Store, *sql.DB) {
	t.Helper()
	dsn := testkit.NewDatabase(t, "product_store")
	require.NoError(t, mysql.Migrate(dsn))
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return mysql.NewStore(db), db
}

func productEvent(p catalog.Product) ([]outbox.Event, error) {
	body, err := json.Marshal(map[string]any{"productId": p.ID, "qty": p.Qty})
	return []outbox.Event{{ID: uuid.NewString(), RoutingKey: "product.updated", Payload: body}}, err
}

func reservationEvent(r catalog.ReservationResult) ([]outbox.Event, error) {
	body, err := json.Marshal(map[string]any{"orderId": r.Request.OrderID, "outcome": r.Outcome})
	return []outbox.Event{{ID: uuid.NewString(), RoutingKey: "stock." + string(r.Outcome), Payload: body}}, err
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(q, args...).Scan(&n))
	return n
}

func TestReserveOneAtATime(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Lamp", Price: money.FromCents(1999), Qty: 3}, productEvent)
	require.NoError(t, err)

	res, err := s.Reserve(ctx, catalog.ReservationRequest{OrderID: 1, ProductID: p.ID, Qty: 2}, reservationEvent)
	require.NoError(t, err)
	assert.Equal(t, catalog.Reserved, res.Outcome)
	res, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 2, ProductID: p.ID, Qty: 2}, reservationEvent)
	require.NoError(t, err)
	assert.Equal(t, catalog.InsufficientStock, res.Outcome)
	res, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 3, ProductID: 999, Qty: 1}, reservationEvent)
	require.NoError(t, err)
	assert.Equal(t, catalog.ProductMissing, res.Outcome)
	// A redelivery of order 1 changes nothing: no second decrement, no second event.
	res, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 1, ProductID: p.ID, Qty: 2}, reservationEvent)
	require.NoError(t, err)
	assert.Equal(t, catalog.AlreadyProcessed, res.Outcome)

	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(1), got.Qty)
	assert.Equal(t, 3, count(t, db, "SELECT COUNT(*) FROM outbox WHERE routing_key LIKE 'stock.%'"), "one result event per order")
	assert.Equal(t, 3, count(t, db, "SELECT COUNT(*) FROM processed_orders"))
}

func TestConcurrentDuplicatesReserveOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Mug", Price: money.FromCents(500), Qty: 100}, productEvent)
	require.NoError(t, err)
	outcomes := make(chan catalog.Outcome, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			res, err := s.Reserve(ctx, catalog.ReservationRequest{OrderID: 42, ProductID: p.ID, Qty: 5}, reservationEvent)
			if assert.NoError(t, err) {
				outcomes <- res.Outcome
			}
		})
	}
	wg.Wait()
	close(outcomes)
	reserved := 0
	for o := range outcomes {
		if o == catalog.Reserved {
			reserved++
		} else {
			assert.Equal(t, catalog.AlreadyProcessed, o)
		}
	}
	assert.Equal(t, 1, reserved)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(95), got.Qty)
}

func TestReserveBatchSkipsOrdersAlreadyProcessed(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.Create(ctx, catalog.Input{Name: "Pen", Price: money.FromCents(100), Qty: 3}, productEvent)
	require.NoError(t, err)
	_, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 1, ProductID: p.ID, Qty: 1}, reservationEvent)
	require.NoError(t, err)
	res, err := s.ReserveBatch(ctx, []catalog.ReservationRequest{
		{OrderID: 1, ProductID: p.ID, Qty: 1}, // already processed
		{OrderID: 2, ProductID: p.ID, Qty: 2},
		{OrderID: 3, ProductID: p.ID, Qty: 1}, // nothing left
		{OrderID: 4, ProductID: 777, Qty: 1},
	}, reservationEvent)
	require.NoError(t, err)
	require.Len(t, res, 4)
	assert.Equal(t, []catalog.Outcome{catalog.AlreadyProcessed, catalog.Reserved, catalog.InsufficientStock, catalog.ProductMissing},
		[]catalog.Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome, res[3].Outcome})
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(0), got.Qty)
}

func TestProductCRUDAndPages(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	var ids []int64
	for _, name := range []string{"a", "b", "c"} {
		p, err := s.Create(ctx, catalog.Input{Name: name, Price: money.FromCents(100), Qty: 1}, productEvent)
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

	up, err := s.Update(ctx, ids[0], func(p catalog.Product) catalog.Input {
		return catalog.Input{Name: p.Name + "!", Price: p.Price, Qty: 9}
	}, productEvent)
	require.NoError(t, err)
	assert.Equal(t, "a!", up.Name)
	assert.Equal(t, int32(9), up.Qty)
	_, err = s.Update(ctx, 999, func(p catalog.Product) catalog.Input { return catalog.Input{} }, productEvent)
	require.ErrorIs(t, err, catalog.ErrNotFound)

	gone, err := s.Delete(ctx, ids[1], productEvent)
	require.NoError(t, err)
	assert.Equal(t, "b", gone.Name)
	_, err = s.Get(ctx, ids[1])
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.Delete(ctx, ids[1], productEvent)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	assert.Equal(t, 5, count(t, db, "SELECT COUNT(*) FROM outbox"), "3 creates, 1 update, 1 delete")
}

func TestAFailingEventBuilderRollsTheChangeBack(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	boom := func(catalog.Product) ([]outbox.Event, error) { return nil, assert.AnError }
	_, err := s.Create(ctx, catalog.Input{Name: "x", Price: money.FromCents(1), Qty: 1}, boom)
	require.ErrorIs(t, err, assert.AnError)
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM products"))
	// An invalid event (empty payload) is refused by the outbox and rolls the change back too.
	empty := func(catalog.Product) ([]outbox.Event, error) {
		return []outbox.Event{{ID: uuid.NewString(), RoutingKey: "product.updated"}}, nil
	}
	_, err = s.Create(ctx, catalog.Input{Name: "x", Price: money.FromCents(1), Qty: 1}, empty)
	require.Error(t, err)
	assert.Zero(t, count(t, db, "SELECT COUNT(*) FROM products"))

	p, err := s.Create(ctx, catalog.Input{Name: "y", Price: money.FromCents(1), Qty: 5}, productEvent)
	require.NoError(t, err)
	_, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 9, ProductID: p.ID, Qty: 1},
		func(catalog.ReservationResult) ([]outbox.Event, error) { return nil, assert.AnError })
	require.ErrorIs(t, err, assert.AnError)
	got, err := s.Get(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(5), got.Qty, "no decrement without its event")
}

func TestStoreReportsMySQLDown(t *testing.T) {
	s, db := newStore(t)
	require.NoError(t, db.Close())
	ctx := context.Background()
	_, err := s.Get(ctx, 1)
	require.Error(t, err)
	require.NotErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.List(ctx, 0, 10)
	require.Error(t, err)
	_, err = s.Create(ctx, catalog.Input{Name: "x", Price: money.FromCents(1), Qty: 1}, productEvent)
	require.Error(t, err)
	_, err = s.Reserve(ctx, catalog.ReservationRequest{OrderID: 1, ProductID: 1, Qty: 1}, reservationEvent)
	require.Error(t, err)
	_, err = s.ReserveBatch(ctx, []catalog.ReservationRequest{{OrderID: 1, ProductID: 1, Qty: 1}}, reservationEvent)
	require.Error(t, err)
	assert.False(t, mysql.IsBatchConflict(err))
	require.Error(t, s.Ping(ctx))
	require.ErrorContains(t, mysql.Migrate("root@tcp(127.0.0.1:1)/productdb?timeout=1s"), "productdb")
}
