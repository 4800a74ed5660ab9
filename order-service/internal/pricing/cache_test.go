package pricing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/ordering"
)

// clock is a settable time source for the cache's freshness rules.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type loader struct {
	calls atomic.Int64
	price atomic.Int64
	err   atomic.Value // error
	gate  chan struct{}
}

func (l *loader) load(ctx context.Context, id int64) (Entry, error) {
	l.calls.Add(1)
	if l.gate != nil {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
	if e, ok := l.err.Load().(error); ok && !errors.Is(e, errNone) {
		return Entry{}, e
	}
	return Entry{Product: ordering.Product{ID: id, Price: money.FromCents(l.price.Load()), Qty: 10}, UpdatedAt: time.Unix(100, 0)}, nil
}

// errNone stands for "no error" (an atomic.Value cannot go back to nil).
var errNone = errors.New("no error")

func newCache(t *testing.T, l *loader, opts Options) (*Cache, *clock) {
	c := New(l.load, opts)
	clk := &clock{now: time.Unix(1000, 0)}
	c.now = clk.Now
	t.Cleanup(c.Close)
	return c, clk
}

func TestFreshStaleAndTooStale(t *testing.T) {
	l := &loader{}
	l.price.Store(100)
	c, clk := newCache(t, l, Options{Fresh: 10 * time.Second, MaxStale: time.Minute})
	ctx := context.Background()

	p, err := c.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "1", p.Price.String())
	_, _ = c.Get(ctx, 1)
	assert.EqualValues(t, 1, l.calls.Load(), "fresh: served from memory")

	l.price.Store(200)
	clk.Add(20 * time.Second) // stale: served at once, refreshed in the background
	p, _ = c.Get(ctx, 1)
	assert.Equal(t, "1", p.Price.String())
	require.Eventually(t, func() bool { p, _ := c.Get(ctx, 1); return p.Price.String() == "2" }, time.Second, 5*time.Millisecond)

	l.price.Store(300)
	clk.Add(2 * time.Minute) // beyond the maximum staleness: the caller waits for a load
	p, _ = c.Get(ctx, 1)
	assert.Equal(t, "3", p.Price.String())
}

func TestStaleEntrySurvivesAFailedRefresh(t *testing.T) {
	l := &loader{}
	l.price.Store(100)
	c, clk := newCache(t, l, Options{Fresh: time.Second, MaxStale: time.Minute})
	ctx := context.Background()
	_, err := c.Get(ctx, 1)
	require.NoError(t, err)
	l.err.Store(ordering.ErrProductServiceUnavailable)
	clk.Add(5 * time.Second)
	p, err := c.Get(ctx, 1)
	require.NoError(t, err, "product-service down: the stale price still serves")
	assert.Equal(t, "1", p.Price.String())
	clk.Add(2 * time.Minute)
	_, err = c.Get(ctx, 1)
	assert.ErrorIs(t, err, ordering.ErrProductServiceUnavailable, "too stale to serve")
}

func TestNotFoundIsRememberedBriefly(t *testing.T) {
	l := &loader{}
	l.err.Store(ordering.ErrProductNotFound)
	c, clk := newCache(t, l, Options{NegativeTTL: time.Second})
	ctx := context.Background()
	for range 3 {
		_, err := c.Get(ctx, 7)
		assert.ErrorIs(t, err, ordering.ErrProductNotFound)
	}
	assert.EqualValues(t, 1, l.calls.Load())
	l.err.Store(errNone) // the product now exists
	clk.Add(2 * time.Second)
	_, err := c.Get(ctx, 7)
	assert.NoError(t, err)
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	l := &loader{gate: make(chan struct{})}
	l.price.Store(100)
	c, _ := newCache(t, l, Options{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get(context.Background(), 3)
			assert.NoError(t, err)
		}()
	}
	require.Eventually(t, func() bool { return l.calls.Load() == 1 }, time.Second, time.Millisecond)
	close(l.gate)
	wg.Wait()
	assert.EqualValues(t, 1, l.calls.Load())
}

func TestEventsUpdateAndDelete(t *testing.T) {
	l := &loader{}
	l.price.Store(100)
	c, _ := newCache(t, l, Options{})
	ctx := context.Background()
	_, _ = c.Get(ctx, 1)

	c.Updated(Entry{Product: ordering.Product{ID: 1, Price: 500, Qty: 3}, UpdatedAt: time.Unix(200, 0)})
	p, _ := c.Get(ctx, 1)
	assert.Equal(t, "5", p.Price.String())
	c.Updated(Entry{Product: ordering.Product{ID: 1, Price: 900, Qty: 3}, UpdatedAt: time.Unix(150, 0)})
	p, _ = c.Get(ctx, 1)
	assert.Equal(t, "5", p.Price.String(), "an older event does not win over a newer state")

	c.Deleted(1)
	_, err := c.Get(ctx, 1)
	assert.ErrorIs(t, err, ordering.ErrProductNotFound)
	c.Updated(Entry{Product: ordering.Product{ID: 1, Price: 100}, UpdatedAt: time.Unix(999, 0)})
	_, err = c.Get(ctx, 1)
	assert.ErrorIs(t, err, ordering.ErrProductNotFound, "a deleted product stays deleted")
	assert.EqualValues(t, 1, l.calls.Load())
}

func TestBoundedByLeastRecentlyUsed(t *testing.T) {
	l := &loader{}
	l.price.Store(100)
	c, _ := newCache(t, l, Options{Size: 2})
	ctx := context.Background()
	_, _ = c.Get(ctx, 1)
	_, _ = c.Get(ctx, 2)
	_, _ = c.Get(ctx, 1) // 2 is now the least recently used
	_, _ = c.Get(ctx, 3)
	assert.Equal(t, 2, c.Len())
	_, _ = c.Get(ctx, 1)
	assert.EqualValues(t, 3, l.calls.Load(), "1 stayed")
	_, _ = c.Get(ctx, 2)
	assert.EqualValues(t, 4, l.calls.Load(), "2 was evicted")
}
