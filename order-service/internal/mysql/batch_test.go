package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
)

type batchFixture struct {
	db, batchDB *sql.DB
	w           *mysql.BatchWriter
}

func newBatchFixture(t *testing.T) batchFixture {
	t.Helper()
	dsn := testkit.NewDatabase(t, "order_batch")
	require.NoError(t, mysql.Migrate(dsn))
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	batchDB, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 4, MultiStatements: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = batchDB.Close() })
	return batchFixture{db: db, batchDB: batchDB, w: mysql.NewBatchWriter(batchDB)}
}

// eventOf is an events builder whose payload records the order it was given.
func eventOf(o ordering.Order) ([]outbox.Event, error) {
	body, err := json.Marshal(map[string]any{"orderId": o.ID, "productId": o.ProductID})
	return []outbox.Event{{ID: uuid.NewString(), RoutingKey: "order.created", Payload: body}}, err
}

func newOrder(productID int64, qty int32, cents int64) mysql.NewOrder {
	p := ordering.Product{ID: productID, Price: money.FromCents(cents), Qty: 1 << 20}
	o, err := ordering.Price(ordering.Request{ProductID: productID, Qty: qty}, p)
	if err != nil {
		panic(err)
	}
	return mysql.NewOrder{Order: o, Events: eventOf}
}

func TestCreateBatchStoresEveryOrderWithItsOwnIDAndEvent(t *testing.T) {
	f := newBatchFixture(t)
	store := mysql.NewStore(f.db, 24*time.Hour)
	batch := []mysql.NewOrder{newOrder(1, 1, 100), newOrder(2, 3, 250), newOrder(1, 2, 100)}
	created, err := f.w.CreateBatch(context.Background(), batch)
	require.NoError(t, err)
	require.Len(t, created, 3)
	for i, o := range created {
		got, err := store.Get(context.Background(), o.ID)
		require.NoError(t, err)
		assert.Equal(t, batch[i].Order.ProductID, got.ProductID, "order %d has the ID of its own row", i)
		assert.Equal(t, batch[i].Order.Qty, got.Qty)
		assert.Equal(t, batch[i].Order.TotalPrice, got.TotalPrice)
		assert.Equal(t, ordering.Pending, got.Status)
		assert.True(t, o.CreatedAt.Equal(got.CreatedAt), "the 201's createdAt is what GET answers")
		assert.True(t, o.UpdatedAt.Equal(got.UpdatedAt))
	}
	rows, err := f.db.Query("SELECT payload FROM outbox ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var payload []byte
		require.NoError(t, rows.Scan(&payload))
		var ev struct{ OrderID int64 }
		require.NoError(t, json.Unmarshal(payload, &ev))
		ids = append(ids, ev.OrderID)
	}
	assert.Equal(t, []int64{created[0].ID, created[1].ID, created[2].ID}, ids, "one event per order, built from the stored order")
}

func TestConcurrentCreateBatchesNeverMixUpIDs(t *testing.T) {
	f := newBatchFixture(t)
	store := mysql.NewStore(f.db, 24*time.Hour)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 10 {
				batch := make([]mysql.NewOrder, 8)
				for i := range batch {
					batch[i] = newOrder(int64(100*g+i+1), int32(i+1), 100)
				}
				created, err := f.w.CreateBatch(context.Background(), batch)
				if !assert.NoError(t, err) {
					return
				}
				for i, o := range created {
					got, err := store.Get(context.Background(), o.ID)
					if assert.NoError(t, err) {
						assert.Equal(t, batch[i].Order.ProductID, got.ProductID)
						assert.Equal(t, batch[i].Order.Qty, got.Qty)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestCreateBatchIsAllOrNothing(t *testing.T) {
	f := newBatchFixture(t)
	bad := newOrder(1, 1, 100)
	bad.Order.Qty = 0 // violates chk_orders_qty
	_, err := f.w.CreateBatch(context.Background(), []mysql.NewOrder{newOrder(1, 1, 100), bad})
	require.Error(t, err)
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
	assert.Zero(t, n)
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n))
	assert.Zero(t, n)
	// The connection went back to the pool clean: the next batch commits on its own.
	created, err := f.w.CreateBatch(context.Background(), []mysql.NewOrder{newOrder(1, 1, 100)})
	require.NoError(t, err)
	require.Len(t, created, 1)
}

func (f batchFixture) orders(t *testing.T, n int) []ordering.Order {
	t.Helper()
	batch := make([]mysql.NewOrder, n)
	for i := range batch {
		batch[i] = newOrder(7, 1, 100)
	}
	created, err := f.w.CreateBatch(context.Background(), batch)
	require.NoError(t, err)
	return created
}

func (f batchFixture) row(t *testing.T, id int64) (status, reason string, createdAt, updatedAt time.Time) {
	t.Helper()
	var r sql.NullString
	require.NoError(t, f.db.QueryRow("SELECT status, reject_reason, created_at, updated_at FROM orders WHERE id = ?", id).
		Scan(&status, &r, &createdAt, &updatedAt))
	return status, r.String, createdAt, updatedAt
}

func TestSettleBatchOfPendingOrders(t *testing.T) {
	f := newBatchFixture(t)
	o := f.orders(t, 4)
	res, err := f.w.SettleBatch(context.Background(), []ordering.Settlement{
		{OrderID: o[2].ID, Reserved: true},
		{OrderID: o[0].ID, Reason: "INSUFFICIENT_STOCK"},
		{OrderID: o[1].ID, Reserved: true},
		{OrderID: o[3].ID, Reason: "PRODUCT_NOT_FOUND"},
	})
	require.NoError(t, err)
	assert.Equal(t, []mysql.SettleResult{
		{Settled: ordering.Settled{Status: ordering.Confirmed, Changed: true}},
		{Settled: ordering.Settled{Status: ordering.Rejected, Changed: true}},
		{Settled: ordering.Settled{Status: ordering.Confirmed, Changed: true}},
		{Settled: ordering.Settled{Status: ordering.Rejected, Changed: true}},
	}, res)
	for i, want := range []struct{ status, reason string }{
		{"REJECTED", "INSUFFICIENT_STOCK"}, {"CONFIRMED", ""}, {"CONFIRMED", ""}, {"REJECTED", "PRODUCT_NOT_FOUND"},
	} {
		status, reason, created, updated := f.row(t, o[i].ID)
		assert.Equal(t, want.status, status, "order %d", i)
		assert.Equal(t, want.reason, reason, "order %d", i)
		assert.False(t, updated.Before(created), "updatedAt never precedes createdAt")
	}
}

func TestSettleBatchWithRedeliveriesDuplicatesAndUnknownOrders(t *testing.T) {
	f := newBatchFixture(t)
	o := f.orders(t, 3)
	_, err := f.w.SettleBatch(context.Background(), []ordering.Settlement{{OrderID: o[0].ID, Reserved: true}})
	require.NoError(t, err)

	res, err := f.w.SettleBatch(context.Background(), []ordering.Settlement{
		{OrderID: o[0].ID, Reason: "INSUFFICIENT_STOCK"}, // redelivered, contradicting: ignored
		{OrderID: o[1].ID, Reserved: true},
		{OrderID: o[1].ID, Reserved: true}, // the same result twice in one batch
		{OrderID: 999999},                  // unknown
		{OrderID: o[2].ID, Reason: "INSUFFICIENT_STOCK"},
	})
	require.NoError(t, err)
	require.Len(t, res, 5)
	assert.Equal(t, mysql.SettleResult{Settled: ordering.Settled{Status: ordering.Confirmed}}, res[0])
	assert.Equal(t, ordering.Settled{Status: ordering.Confirmed, Changed: true}, res[1].Settled)
	assert.Equal(t, ordering.Settled{Status: ordering.Confirmed}, res[2].Settled, "applied once")
	assert.ErrorIs(t, res[3].Err, ordering.ErrNotFound)
	assert.Equal(t, ordering.Settled{Status: ordering.Rejected, Changed: true}, res[4].Settled)
	status, _, _, _ := f.row(t, o[0].ID)
	assert.Equal(t, "CONFIRMED", status, "a final order never changes again")
	status, reason, _, _ := f.row(t, o[2].ID)
	assert.Equal(t, "REJECTED", status)
	assert.Equal(t, "INSUFFICIENT_STOCK", reason)
}

func TestBatchWriterFailsCleanlyWhenMySQLIsDown(t *testing.T) {
	f := newBatchFixture(t)
	require.NoError(t, f.batchDB.Close())
	_, err := f.w.CreateBatch(context.Background(), []mysql.NewOrder{newOrder(1, 1, 100)})
	require.Error(t, err)
	_, err = f.w.SettleBatch(context.Background(), []ordering.Settlement{{OrderID: 1, Reserved: true}})
	require.Error(t, err)
}

func TestCommitterGroupsWritesAndRunsAfterCommitOncePerProduct(t *testing.T) {
	f := newBatchFixture(t)
	var mu sync.Mutex
	touched := map[int64]int{}
	c := mysql.NewCommitter(f.w, 64, 2, func(_ context.Context, productID int64) {
		mu.Lock()
		touched[productID]++
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	var wg sync.WaitGroup
	created := make([]ordering.Order, 40)
	for i := range created {
		wg.Go(func() {
			o, err := c.Create(context.Background(), newOrder(int64(1+i%2), 1, 100))
			assert.NoError(t, err)
			created[i] = o
		})
	}
	wg.Wait()
	mu.Lock()
	assert.Equal(t, 2, len(touched), "both products were invalidated")
	creates := touched[1] + touched[2]
	mu.Unlock()
	assert.LessOrEqual(t, creates, 40)

	for _, o := range created {
		wg.Go(func() {
			s, err := c.Settle(context.Background(), ordering.Settlement{OrderID: o.ID, ProductID: o.ProductID, Reserved: true})
			assert.NoError(t, err)
			assert.Equal(t, ordering.Settled{Status: ordering.Confirmed, Changed: true}, s)
		})
	}
	wg.Wait()
	_, err := c.Settle(context.Background(), ordering.Settlement{OrderID: 424242, ProductID: 1, Reserved: true})
	require.ErrorIs(t, err, ordering.ErrNotFound)

	// A redelivery changes nothing, so it invalidates nothing.
	mu.Lock()
	before := touched[1] + touched[2]
	mu.Unlock()
	s, err := c.Settle(context.Background(), ordering.Settlement{OrderID: created[0].ID, ProductID: created[0].ProductID, Reserved: true})
	require.NoError(t, err)
	assert.False(t, s.Changed)
	mu.Lock()
	assert.Equal(t, before, touched[1]+touched[2])
	mu.Unlock()

	cancel()
	require.NoError(t, <-done)
	_, err = c.Create(context.Background(), newOrder(1, 1, 100))
	require.Error(t, err, "a stopped committer takes no more writes")
}
