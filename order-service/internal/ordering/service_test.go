package ordering_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/orderingtest"
	"github.com/shopworks/shop/platform/dbx"
)

func place(t *testing.T, s *orderingtest.Stack, productID int64, key string) (ordering.Order, bool, error) {
	t.Helper()
	return s.Service.PlaceOrder(context.Background(), ordering.Placement{Request: ordering.Request{ProductID: productID, Qty: 1}, Key: key})
}

func TestPlacedOrdersWakeTheRelayAndInvalidateTheirProductsPages(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{})
	ctx := context.Background()
	o, replayed, err := place(t, s, 5, "")
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.Equal(t, ordering.Pending, o.Status)
	assert.Positive(t, s.Relay.Count())

	page, hit, err := s.Service.ListByProduct(ctx, 5, 0, 10)
	require.NoError(t, err)
	require.Len(t, page.Orders, 1)
	require.Eventually(t, func() bool { _, hit, _ = s.Service.ListByProduct(ctx, 5, 0, 10); return hit }, 5*time.Second, 10*time.Millisecond)

	orderingtest.Settle(t, s.Service, o.ID, true, "")
	page, hit, err = s.Service.ListByProduct(ctx, 5, 0, 10)
	require.NoError(t, err)
	assert.False(t, hit, "the settlement made the cached page stale")
	assert.Equal(t, ordering.Confirmed, page.Orders[0].Status)
}

func TestTwoReplicasWithOneKeyStoreOneOrder(t *testing.T) {
	a := orderingtest.Start(t, orderingtest.Options{})
	b := orderingtest.Start(t, orderingtest.Options{DSN: a.DSN})
	var wg sync.WaitGroup
	ids := make(chan int64, 20)
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			o, _, err := place(t, s, 9, "shared-key")
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
	assert.Len(t, seen, 1, "every success names the same order")
	assert.Equal(t, 1, a.Count(t, "orders"))
}

func TestAnExpiredKeyMakesANewOrder(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{})
	first, _, err := place(t, s, 3, "old")
	require.NoError(t, err)
	_, err = s.DB.Exec("UPDATE idempotency_keys SET created_at = NOW() - INTERVAL 2 DAY")
	require.NoError(t, err)
	second, replayed, err := place(t, s, 3, "old")
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.NotEqual(t, first.ID, second.ID)
	again, replayed, err := place(t, s, 3, "old")
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, second.ID, again.ID)
}

// Redis frozen (a proxy that stops forwarding): writes never wait for it; reads fall back to
// MySQL; after Redis is back with its old contents, no stale page is served.
func TestAFrozenRedisIsNeverOnTheWritePathAndStalePagesAreNotServedAfterward(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{RedisViaProxy: true})
	ctx := context.Background()
	_, _, err := place(t, s, 4, "")
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, hit, _ := s.Service.ListByProduct(ctx, 4, 0, 10); return hit }, 5*time.Second, 10*time.Millisecond)

	s.RedisProxy.Freeze()
	for range 20 {
		_, _, err := place(t, s, 4, "")
		require.NoError(t, err, "orders are taken while Redis hangs")
	}
	page, hit, err := s.Service.ListByProduct(ctx, 4, 0, 100)
	require.NoError(t, err)
	assert.False(t, hit)
	assert.Len(t, page.Orders, 21, "read from MySQL")
	assert.True(t, s.Stale.Pending(4), "the invalidation waits for Redis")

	s.RedisProxy.Thaw() // Redis comes back with the page cached before the writes
	require.Eventually(t, func() bool { return !s.Stale.Pending(4) }, 5*time.Second, 10*time.Millisecond)
	page, _, err = s.Service.ListByProduct(ctx, 4, 0, 100)
	require.NoError(t, err)
	assert.Len(t, page.Orders, 21, "the page cached before the writes is never served again")
}

// MySQL frozen: a placement is answered by the write deadline with an error that tells the truth,
// and nothing answered as failed is stored once MySQL thaws.
func TestAFrozenDatabaseAnswersPlacementsByTheDeadline(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{MySQLViaProxy: true, Service: ordering.Options{WriteTimeout: 500 * time.Millisecond}})
	_, _, err := place(t, s, 6, "")
	require.NoError(t, err)
	s.MySQLProxy.Freeze()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, unknown := 0, 0
	for range 10 {
		wg.Go(func() {
			start := time.Now()
			_, _, err := place(t, s, 6, "")
			assert.Less(t, time.Since(start), 3*time.Second)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ordering.ErrOutcomeUnknown):
				unknown++
			case err != nil:
				assert.True(t, dbx.IsUnavailable(err), "a certain failure is an unavailability: %v", err)
				failed++
			default:
				t.Error("an order was answered as stored while the database was frozen")
			}
		})
	}
	wg.Wait()
	s.MySQLProxy.Thaw()
	// Certain failures are never stored; an unknown outcome may be either.
	require.Eventually(t, func() bool {
		n := s.Count(t, "orders")
		return n >= 1 && n <= 1+unknown
	}, 10*time.Second, 50*time.Millisecond)
	_, _, err = place(t, s, 6, "")
	require.NoError(t, err, "the service recovers by itself")
	t.Logf("failed %d, unknown %d", failed, unknown)
}

// A connection cut right after COMMIT: the order is stored, and the client is told so.
func TestACutDuringCommitIsResolvedToTheTruth(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{MySQLViaProxy: true})
	s.MySQLProxy.CutAfter([]byte("COMMIT"))
	o, _, err := place(t, s, 8, "")
	require.Equal(t, 1, s.MySQLProxy.Cuts())
	require.NoError(t, err)
	got, err := s.Service.GetOrder(context.Background(), o.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(8), got.ProductID)
}

func TestWaitingForTheOutcomeEndsWhenTheOrderSettles(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{Service: ordering.Options{MaxWaiters: 2}})
	ctx := context.Background()
	o, _, err := place(t, s, 11, "")
	require.NoError(t, err)
	type result struct {
		o      ordering.Order
		waited bool
		err    error
	}
	done := make(chan result, 3)
	for range 3 { // the third exceeds the cap: answered at once, without waiting
		go func() {
			got, waited, err := s.Service.WaitForOutcome(ctx, o.ID, time.Minute)
			done <- result{got, waited, err}
		}()
	}
	capped := <-done
	require.NoError(t, capped.err)
	assert.False(t, capped.waited, "beyond the cap the wait is not taken")
	assert.Equal(t, ordering.Pending, capped.o.Status)
	orderingtest.Settle(t, s.Service, o.ID, true, "")
	for range 2 {
		r := <-done
		require.NoError(t, r.err)
		assert.True(t, r.waited)
		assert.Equal(t, ordering.Confirmed, r.o.Status, "woken by the settlement, long before the minute")
	}
	got, waited, err := s.Service.WaitForOutcome(ctx, o.ID, time.Minute)
	require.NoError(t, err)
	assert.False(t, waited, "a final order is answered at once")
	assert.Equal(t, ordering.Confirmed, got.Status)
	got, waited, err = s.Service.WaitForOutcome(ctx, 424242, time.Second)
	assert.ErrorIs(t, err, ordering.ErrNotFound)
	assert.False(t, waited)
	_ = got
}

func TestAWaitEndsAtItsDeadlineWithTheOrderAsItIs(t *testing.T) {
	s := orderingtest.Start(t, orderingtest.Options{})
	o, _, err := place(t, s, 12, "")
	require.NoError(t, err)
	got, waited, err := s.Service.WaitForOutcome(context.Background(), o.ID, 100*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, waited)
	assert.Equal(t, ordering.Pending, got.Status)
}
