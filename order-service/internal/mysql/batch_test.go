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
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
)

type fixture struct {
	db    *sql.DB // straight to MariaDB, for assertions
	store *mysql.Store
	proxy *testkit.Proxy // in front of the store's connections
}

// newFixture returns a Store over a private database; its pools reach MariaDB through a proxy.
func newFixture(t *testing.T, opts mysql.Options) fixture {
	t.Helper()
	dsn := testkit.NewDatabase(t, "order_store")
	require.NoError(t, mysql.Migrate(dsn))
	open := func(dsn string, multi bool) *sql.DB {
		db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 4, MultiStatements: multi})
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	viaProxy, proxy := testkit.MySQLViaProxy(t, dsn)
	return fixture{db: open(dsn, false), store: mysql.NewStore(open(viaProxy, false), open(viaProxy, true),
		mysql.Events{Created: encode, Cancelled: messaging.OrderCancelled(time.Now)}, opts), proxy: proxy}
}

// encode is an order.created encoder whose payload records the order it was given.
func encode(o ordering.Order, eventID, correlationID string) (outbox.Event, error) {
	body, err := json.Marshal(map[string]any{"orderId": o.ID, "productId": o.ProductID})
	return outbox.Event{ID: eventID, RoutingKey: "order.created", Payload: body, CorrelationID: correlationID}, err
}

func newOrder(productID int64, qty int32, cents int64) ordering.NewOrder {
	p := ordering.Product{ID: productID, Price: money.FromCents(cents), Qty: 1 << 20}
	o, err := ordering.Price(ordering.Request{ProductID: productID, Qty: qty}, p)
	if err != nil {
		panic(err)
	}
	return ordering.NewOrder{Order: o, Token: uuid.New(), CorrelationID: "req-1"}
}

func keyed(n ordering.NewOrder, key string) ordering.NewOrder {
	n.Key, n.Fingerprint = key, ordering.Request{ProductID: n.Order.ProductID, Qty: n.Order.Qty}.Fingerprint()
	return n
}

func (f fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func TestCreateBatchStoresEveryOrderWithItsOwnIDTokenAndEvent(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	batch := []ordering.NewOrder{newOrder(1, 1, 100), newOrder(2, 3, 250), newOrder(1, 2, 100)}
	created, err := f.store.CreateBatch(context.Background(), batch)
	require.NoError(t, err)
	require.Len(t, created, 3)
	for i, o := range created {
		got, err := f.store.Get(context.Background(), o.ID)
		require.NoError(t, err)
		assert.Equal(t, batch[i].Order.ProductID, got.ProductID, "order %d has the ID of its own row", i)
		assert.Equal(t, batch[i].Order.Qty, got.Qty)
		assert.Equal(t, batch[i].Order.TotalPrice, got.TotalPrice)
		assert.Equal(t, ordering.Pending, got.Status)
		assert.True(t, o.CreatedAt.Equal(got.CreatedAt), "the 201's createdAt is what GET answers")
		assert.True(t, o.UpdatedAt.Equal(got.UpdatedAt))
		var token []byte
		require.NoError(t, f.db.QueryRow("SELECT token FROM orders WHERE id = ?", o.ID).Scan(&token))
		assert.Equal(t, batch[i].Token[:], token, "the order's token is stored with it")
	}
	rows, err := f.db.Query("SELECT event_id, correlation_id, payload FROM outbox ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for i := 0; rows.Next(); i++ {
		var eventID, corr string
		var payload []byte
		require.NoError(t, rows.Scan(&eventID, &corr, &payload))
		var ev struct{ OrderID int64 }
		require.NoError(t, json.Unmarshal(payload, &ev))
		ids = append(ids, ev.OrderID)
		assert.Equal(t, batch[i].Token.String(), eventID, "the event's ID is the order's token")
		assert.Equal(t, "req-1", corr)
	}
	assert.Equal(t, []int64{created[0].ID, created[1].ID, created[2].ID}, ids, "one event per order, built from the stored order")
}

func TestConcurrentCreateBatchesNeverMixUpIDs(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 10 {
				batch := make([]ordering.NewOrder, 8)
				for i := range batch {
					batch[i] = newOrder(int64(100*g+i+1), int32(i+1), 100)
				}
				created, err := f.store.CreateBatch(context.Background(), batch)
				if !assert.NoError(t, err) {
					return
				}
				for i, o := range created {
					got, err := f.store.Get(context.Background(), o.ID)
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
	f := newFixture(t, mysql.Options{})
	bad := newOrder(1, 1, 100)
	bad.Order.Qty = 0 // violates chk_orders_qty
	_, err := f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100), bad})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ordering.ErrOutcomeUnknown, "the server refused it: certainly not stored")
	assert.Zero(t, f.count(t, "orders"))
	assert.Zero(t, f.count(t, "outbox"))
	// The connection went back to the pool clean: the next batch commits on its own.
	created, err := f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)})
	require.NoError(t, err)
	require.Len(t, created, 1)
}

func TestKeysAreStoredWithTheirOrdersAndATakenKeyFailsTheBatch(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	ctx := context.Background()
	first := keyed(newOrder(3, 2, 100), "key-1")
	created, err := f.store.CreateBatch(ctx, []ordering.NewOrder{newOrder(3, 1, 100), first})
	require.NoError(t, err)
	rec, ok, err := f.store.LookupKey(ctx, "key-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, first.Fingerprint, rec.Fingerprint)
	assert.Equal(t, created[1].ID, rec.Order.ID, "the key names its own order")
	_, ok, err = f.store.LookupKey(ctx, "unknown")
	require.NoError(t, err)
	assert.False(t, ok)

	_, err = f.store.CreateBatch(ctx, []ordering.NewOrder{newOrder(3, 1, 100), keyed(newOrder(3, 5, 100), "key-1")})
	require.ErrorIs(t, err, ordering.ErrKeyTaken)
	assert.Equal(t, 2, f.count(t, "orders"), "nothing of the failed batch is stored")
	assert.Equal(t, 2, f.count(t, "outbox"))

	// An expired key is forgotten only as the record that expired.
	require.NoError(t, f.store.ForgetKey(ctx, "key-1", rec.CreatedAt.Add(-time.Second)))
	_, ok, _ = f.store.LookupKey(ctx, "key-1")
	assert.True(t, ok, "a key recorded after the given time is kept")
	require.NoError(t, f.store.ForgetKey(ctx, "key-1", rec.CreatedAt))
	_, ok, _ = f.store.LookupKey(ctx, "key-1")
	assert.False(t, ok)
}

func TestPruneKeysDeletesOnlyExpiredOnes(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	ctx := context.Background()
	_, err := f.store.CreateBatch(ctx, []ordering.NewOrder{keyed(newOrder(3, 1, 100), "old"), keyed(newOrder(3, 1, 100), "fresh")})
	require.NoError(t, err)
	_, err = f.db.Exec("UPDATE idempotency_keys SET created_at = NOW() - INTERVAL 2 DAY WHERE idem_key = 'old'")
	require.NoError(t, err)
	n, err := f.store.PruneKeys(ctx, time.Now().Add(-24*time.Hour), 100)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	_, ok, _ := f.store.LookupKey(ctx, "fresh")
	assert.True(t, ok)
}

// A connection cut right after COMMIT was sent: the answer is lost, the batch is found stored.
func TestALostCommitAnswerIsResolvedByTheOrdersTokens(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	f.proxy.CutAfter([]byte("COMMIT"))
	batch := []ordering.NewOrder{newOrder(1, 1, 100), newOrder(2, 1, 100)}
	created, err := f.store.CreateBatch(context.Background(), batch)
	require.Equal(t, 1, f.proxy.Cuts(), "the connection was cut after COMMIT")
	require.NoError(t, err, "the orders are stored, so the answer is success")
	require.Len(t, created, 2)
	assert.Equal(t, 2, f.count(t, "orders"))
	got, err := f.store.Get(context.Background(), created[1].ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.ProductID)
}

// A connection cut after the INSERT was sent, before COMMIT: certainly not stored.
func TestACutBeforeCommitIsACertainFailure(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	f.proxy.CutAfter([]byte("INSERT INTO orders"))
	_, err := f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ordering.ErrOutcomeUnknown)
	assert.True(t, dbx.IsUnavailable(err), "a lost connection: %v", err)
	require.Eventually(t, func() bool { return f.count(t, "orders") == 0 }, 5*time.Second, 10*time.Millisecond)
	_, err = f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)})
	require.NoError(t, err, "the next batch gets a fresh connection")
}

// A frozen database: the batch is answered by its deadline; a commit whose answer is missing
// and cannot be looked up is reported as unknown, never as a failure.
func TestAFrozenDatabaseAnswersByTheDeadline(t *testing.T) {
	f := newFixture(t, mysql.Options{QueryTimeout: 400 * time.Millisecond})
	_, err := f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)}) // warm the pool
	require.NoError(t, err)
	f.proxy.Freeze()
	start := time.Now()
	_, err = f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Less(t, elapsed, 5*time.Second, "answered by the deadline, not when the database thaws")
	_, err = f.store.Get(context.Background(), 1)
	require.Error(t, err)
	assert.True(t, dbx.IsUnavailable(err), "reads time out too: %v", err)
	f.proxy.Thaw()
	require.Eventually(t, func() bool {
		_, err := f.store.CreateBatch(context.Background(), []ordering.NewOrder{newOrder(1, 1, 100)})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "the store recovers by itself after the thaw")
}

func (f fixture) orders(t *testing.T, n int) []ordering.Order {
	t.Helper()
	batch := make([]ordering.NewOrder, n)
	for i := range batch {
		batch[i] = newOrder(7, 1, 100)
	}
	created, err := f.store.CreateBatch(context.Background(), batch)
	require.NoError(t, err)
	return created
}

func (f fixture) row(t *testing.T, id int64) (status, reason string, createdAt, updatedAt time.Time) {
	t.Helper()
	var r sql.NullString
	require.NoError(t, f.db.QueryRow("SELECT status, reject_reason, created_at, updated_at FROM orders WHERE id = ?", id).
		Scan(&status, &r, &createdAt, &updatedAt))
	return status, r.String, createdAt, updatedAt
}

func TestSettleBatchOfPendingOrders(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	o := f.orders(t, 4)
	res, err := f.store.SettleBatch(context.Background(), []ordering.Settlement{
		{OrderID: o[2].ID, Token: o[2].Token, Reserved: true},
		{OrderID: o[0].ID, Token: o[0].Token, Reason: "INSUFFICIENT_STOCK"},
		{OrderID: o[1].ID, Token: o[1].Token, Reserved: true},
		{OrderID: o[3].ID, Token: o[3].Token, Reason: "PRODUCT_NOT_FOUND"},
	})
	require.NoError(t, err)
	assert.Equal(t, []ordering.SettleResult{
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
	f := newFixture(t, mysql.Options{})
	o := f.orders(t, 3)
	_, err := f.store.SettleBatch(context.Background(), []ordering.Settlement{{OrderID: o[0].ID, Token: o[0].Token, Reserved: true}})
	require.NoError(t, err)

	res, err := f.store.SettleBatch(context.Background(), []ordering.Settlement{
		{OrderID: o[0].ID, Token: o[0].Token, Reason: "INSUFFICIENT_STOCK"}, // redelivered, contradicting: ignored
		{OrderID: o[1].ID, Token: o[1].Token, Reserved: true},
		{OrderID: o[1].ID, Token: o[1].Token, Reserved: true}, // the same result twice in one batch
		{OrderID: 999999, Token: uuid.New()},                  // unknown
		{OrderID: o[2].ID, Token: o[2].Token, Reason: "INSUFFICIENT_STOCK"},
	})
	require.NoError(t, err)
	require.Len(t, res, 5)
	assert.Equal(t, ordering.SettleResult{Settled: ordering.Settled{Status: ordering.Confirmed}}, res[0])
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

// A result that names a known order with another token (forged, or another system's order with
// the same ID) settles nothing; an order stored before tokens existed matches by ID.
func TestSettleBatchMatchesTokens(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	o := f.orders(t, 2)
	res, err := f.store.SettleBatch(context.Background(), []ordering.Settlement{{OrderID: o[0].ID, Token: uuid.New(), Reserved: true}})
	require.NoError(t, err)
	assert.ErrorIs(t, res[0].Err, ordering.ErrNotFound)
	status, _, _, _ := f.row(t, o[0].ID)
	assert.Equal(t, "PENDING", status)
	_, err = f.db.Exec("UPDATE orders SET token = NULL WHERE id = ?", o[1].ID)
	require.NoError(t, err)
	res, err = f.store.SettleBatch(context.Background(), []ordering.Settlement{{OrderID: o[1].ID, Token: uuid.New(), Reserved: true}})
	require.NoError(t, err)
	assert.True(t, res[0].Changed)
}

func TestCancelStoresTheChangeWithItsEvent(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	o := f.orders(t, 3)
	ctx := context.Background()
	_, err := f.store.SettleBatch(ctx, []ordering.Settlement{{OrderID: o[1].ID, Token: o[1].Token, Reason: "INSUFFICIENT_STOCK"}})
	require.NoError(t, err)

	// One batch: an order cancelled twice, an unknown order, a rejected one, a pending one.
	res, err := f.store.CancelBatch(ctx, []ordering.CancelRequest{
		{OrderID: o[0].ID, CorrelationID: "req-9"}, {OrderID: 424242}, {OrderID: o[0].ID}, {OrderID: o[1].ID}, {OrderID: o[2].ID},
	}, ordering.Cancel)
	require.NoError(t, err)
	require.Len(t, res, 5)
	assert.True(t, res[0].Changed)
	assert.Equal(t, ordering.Cancelled, res[0].Order.Status)
	assert.Equal(t, o[0].Token, res[0].Order.Token)
	assert.False(t, res[0].Order.UpdatedAt.IsZero())
	require.ErrorIs(t, res[1].Err, ordering.ErrNotFound)
	assert.False(t, res[2].Changed, "twice is once, even in one batch")
	assert.NoError(t, res[2].Err)
	assert.Equal(t, res[0].Order, res[2].Order, "and answers the same")
	require.ErrorIs(t, res[3].Err, ordering.ErrNotCancellable)
	assert.True(t, res[4].Changed)

	var payload, corr string
	require.NoError(t, f.db.QueryRow("SELECT payload, correlation_id FROM outbox WHERE routing_key = 'order.cancelled' AND correlation_id = 'req-9'").Scan(&payload, &corr))
	assert.Contains(t, payload, `"orderEventId":"`+o[0].Token.String()+`"`)
	assert.Contains(t, payload, `"reason":"CANCELLED_BY_CLIENT"`)
	res, err = f.store.CancelBatch(ctx, []ordering.CancelRequest{{OrderID: o[0].ID}}, ordering.Cancel)
	require.NoError(t, err)
	assert.False(t, res[0].Changed, "a later batch changes nothing either")
	require.NoError(t, f.store.Compensate(ctx, []ordering.Cancellation{{OrderID: 77, Token: uuid.New(), ProductID: 3, Qty: 2, Reason: ordering.UnknownOrder}}))
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM outbox WHERE routing_key = 'order.cancelled'").Scan(&n))
	assert.Equal(t, 3, n, "one event per cancelled order, plus the compensation")
	var statuses string
	require.NoError(t, f.db.QueryRow("SELECT GROUP_CONCAT(status ORDER BY id) FROM orders").Scan(&statuses))
	assert.Equal(t, "CANCELLED,REJECTED,CANCELLED", statuses)
}

func TestGetAndListByProduct(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	ctx := context.Background()
	_, err := f.store.Get(ctx, 12345)
	require.ErrorIs(t, err, ordering.ErrNotFound)
	created := f.orders(t, 5)
	all, err := f.store.ListByProduct(ctx, 7, 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 5)
	assert.Equal(t, created[4].ID, all[0].ID, "newest first")
	older, err := f.store.ListByProduct(ctx, 7, all[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, older, 2)
	assert.Equal(t, all[2].ID, older[0].ID)
	none, err := f.store.ListByProduct(ctx, 8, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestStoreReportsMySQLDown(t *testing.T) {
	f := newFixture(t, mysql.Options{})
	f.proxy.Down()
	ctx := context.Background()
	_, err := f.store.Get(ctx, 1)
	require.Error(t, err)
	_, err = f.store.ListByProduct(ctx, 1, 0, 10)
	require.Error(t, err)
	_, err = f.store.ListByProduct(ctx, 1, 5, 10)
	require.Error(t, err)
	_, _, err = f.store.LookupKey(ctx, "k")
	require.Error(t, err)
	require.Error(t, f.store.ForgetKey(ctx, "k", time.Now()))
	_, err = f.store.CreateBatch(ctx, []ordering.NewOrder{newOrder(1, 1, 100)})
	require.Error(t, err)
	assert.True(t, dbx.IsUnavailable(err))
	_, err = f.store.SettleBatch(ctx, []ordering.Settlement{{OrderID: 1, Reserved: true}})
	require.Error(t, err)
	_, err = f.store.PruneKeys(ctx, time.Now(), 10)
	require.Error(t, err)
	require.Error(t, f.store.Ping(ctx))
}

func TestMigrateReportsAnUnreachableDatabase(t *testing.T) {
	err := mysql.Migrate("root@tcp(127.0.0.1:1)/orderdb?timeout=1s")
	require.ErrorContains(t, err, "migrate orderdb")
}
