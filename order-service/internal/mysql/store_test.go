package mysql_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
)

func newStore(t *testing.T) (*mysql.Store, batchFixture) {
	t.Helper()
	f := newBatchFixture(t)
	return mysql.NewStore(f.db, 24*time.Hour), f
}

func TestCreateWithIdempotencyKeyReplaysTheFirstOrder(t *testing.T) {
	s, f := newStore(t)
	ctx := context.Background()
	req := ordering.Request{ProductID: 3, Qty: 2}
	n := newOrder(3, 2, 100)
	first, replayed, err := s.Create(ctx, n.Order, "key-1", req.Fingerprint(), eventOf)
	require.NoError(t, err)
	assert.False(t, replayed)

	again, replayed, err := s.Create(ctx, n.Order, "key-1", req.Fingerprint(), eventOf)
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, first.ID, again.ID)

	got, ok, err := s.Replay(ctx, "key-1", req.Fingerprint())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, first.ID, got.ID)

	_, _, err = s.Create(ctx, n.Order, "key-1", ordering.Request{ProductID: 3, Qty: 5}.Fingerprint(), eventOf)
	require.ErrorIs(t, err, ordering.ErrIdempotencyKeyReused)
	_, ok, err = s.Replay(ctx, "unknown", req.Fingerprint())
	require.NoError(t, err)
	assert.False(t, ok)

	var orders, events int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&orders))
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&events))
	assert.Equal(t, 1, orders)
	assert.Equal(t, 1, events)
}

func TestConcurrentRequestsWithOneKeyCreateOneOrder(t *testing.T) {
	s, f := newStore(t)
	req := ordering.Request{ProductID: 3, Qty: 1}
	n := newOrder(3, 1, 100)
	ids := make(chan int64, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			o, _, err := s.Create(context.Background(), n.Order, "same", req.Fingerprint(), eventOf)
			if err != nil {
				assert.ErrorIs(t, err, ordering.ErrIdempotencyKeyInUse)
				return
			}
			ids <- o.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	assert.Len(t, seen, 1, "every successful request answers the same order")
	var orders int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&orders))
	assert.Equal(t, 1, orders)
}

func TestExpiredKeysArePrunedAndReusable(t *testing.T) {
	s, f := newStore(t)
	ctx := context.Background()
	req := ordering.Request{ProductID: 3, Qty: 1}
	n := newOrder(3, 1, 100)
	first, _, err := s.Create(ctx, n.Order, "old", req.Fingerprint(), eventOf)
	require.NoError(t, err)
	_, err = f.db.Exec("UPDATE idempotency_keys SET created_at = NOW() - INTERVAL 2 DAY")
	require.NoError(t, err)

	// An expired key not pruned yet is taken over by a new request: a new order, not a replay.
	second, replayed, err := s.Create(ctx, n.Order, "old", ordering.Request{ProductID: 3, Qty: 9}.Fingerprint(), eventOf)
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.NotEqual(t, first.ID, second.ID)

	_, err = f.db.Exec("UPDATE idempotency_keys SET created_at = NOW() - INTERVAL 2 DAY")
	require.NoError(t, err)
	_, _, err = s.Create(ctx, n.Order, "fresh", req.Fingerprint(), eventOf)
	require.NoError(t, err)
	pruned, err := s.PruneIdempotencyKeys(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, int64(1), pruned, "only the expired key goes")
	_, ok, err := s.Replay(ctx, "fresh", req.Fingerprint())
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestKeyOfARequestStillInFlightIsInUse(t *testing.T) {
	s, f := newStore(t)
	req := ordering.Request{ProductID: 3, Qty: 1}
	// A key row without an order: its request has not committed yet (or crashed before linking).
	_, err := f.db.Exec("INSERT INTO idempotency_keys (idem_key, fingerprint) VALUES ('busy', ?)", req.Fingerprint())
	require.NoError(t, err)
	_, _, err = s.Replay(context.Background(), "busy", req.Fingerprint())
	require.ErrorIs(t, err, ordering.ErrIdempotencyKeyInUse)
	_, _, err = s.Create(context.Background(), newOrder(3, 1, 100).Order, "busy", req.Fingerprint(), eventOf)
	require.ErrorIs(t, err, ordering.ErrIdempotencyKeyInUse)
}

func TestGetAndListByProduct(t *testing.T) {
	s, f := newStore(t)
	ctx := context.Background()
	_, err := s.Get(ctx, 12345)
	require.ErrorIs(t, err, ordering.ErrNotFound)
	created := f.orders(t, 5)
	all, err := s.ListByProduct(ctx, 7, 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 5)
	assert.Equal(t, created[4].ID, all[0].ID, "newest first")
	older, err := s.ListByProduct(ctx, 7, all[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, older, 2)
	assert.Equal(t, all[2].ID, older[0].ID)
	none, err := s.ListByProduct(ctx, 8, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestStoreReportsMySQLDown(t *testing.T) {
	s, f := newStore(t)
	require.NoError(t, f.db.Close())
	ctx := context.Background()
	_, err := s.Get(ctx, 1)
	require.Error(t, err)
	_, err = s.ListByProduct(ctx, 1, 0, 10)
	require.Error(t, err)
	_, err = s.ListByProduct(ctx, 1, 5, 10)
	require.Error(t, err)
	_, _, err = s.Replay(ctx, "k", "fp")
	require.Error(t, err)
	_, _, err = s.Create(ctx, newOrder(1, 1, 100).Order, "", "", eventOf)
	require.Error(t, err)
	_, err = s.PruneIdempotencyKeys(ctx, 10)
	require.Error(t, err)
	require.Error(t, s.Ping(ctx))
}

func TestMigrateReportsAnUnreachableDatabase(t *testing.T) {
	err := mysql.Migrate("root@tcp(127.0.0.1:1)/orderdb?timeout=1s")
	require.ErrorContains(t, err, "migrate orderdb")
}
