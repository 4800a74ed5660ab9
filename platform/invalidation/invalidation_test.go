package invalidation_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/invalidation"
)

// cache is an Apply that can be made unreachable.
type cache struct {
	mu      sync.Mutex
	down    bool
	applied map[int64]int
	calls   int
}

func (c *cache) apply(_ context.Context, ids []int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.down {
		return errors.New("connection refused")
	}
	for _, id := range ids {
		c.applied[id]++
	}
	return nil
}

func (c *cache) setDown(v bool) { c.mu.Lock(); c.down = v; c.mu.Unlock() }
func (c *cache) count(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied[id]
}

func start(t *testing.T, q *invalidation.Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
}

var quiet = slog.New(slog.DiscardHandler)

func TestMarkedEntriesArePendingUntilApplied(t *testing.T) {
	c := &cache{applied: map[int64]int{}}
	q := invalidation.New(c.apply, invalidation.Options{Name: "t"}, quiet, nil)
	q.Mark(1, 2, 2)
	assert.True(t, q.Pending(1))
	assert.False(t, q.Pending(3))
	start(t, q)
	require.Eventually(t, func() bool { return !q.Pending(1) && !q.Pending(2) }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, c.count(1))
	assert.Equal(t, 1, c.count(2), "marks of one id coalesce")
}

func TestAnUnreachableCacheKeepsEntriesPendingAndIsRetriedUntilItIsBack(t *testing.T) {
	c := &cache{applied: map[int64]int{}, down: true}
	reg := prometheus.NewRegistry()
	q := invalidation.New(c.apply, invalidation.Options{Name: "t", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, quiet, reg)
	start(t, q)
	q.Mark(7)
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.calls >= 3 }, 5*time.Second, time.Millisecond)
	assert.True(t, q.Pending(7), "readers keep bypassing the cache for 7")
	n, err := testutil.GatherAndCount(reg, "shop_cache_invalidation_failures_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "failures are counted")
	assert.Contains(t, gathered(t, reg), "shop_cache_invalidations_pending")
	c.setDown(false)
	require.Eventually(t, func() bool { return !q.Pending(7) }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, c.count(7))
}

func TestAMarkDuringAnApplyStaysPending(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	applied := 0
	q := invalidation.New(func(_ context.Context, ids []int64) error {
		once.Do(func() { close(entered); <-release })
		mu.Lock()
		applied++
		mu.Unlock()
		return nil
	}, invalidation.Options{}, quiet, nil)
	start(t, q)
	q.Mark(5)
	<-entered
	q.Mark(5) // a second commit while the first invalidation is being applied
	close(release)
	require.Eventually(t, func() bool { return !q.Pending(5) }, 5*time.Second, time.Millisecond)
	mu.Lock()
	assert.Equal(t, 2, applied, "the second mark was applied by an apply that started after it")
	mu.Unlock()
}

func gathered(t *testing.T, reg *prometheus.Registry) []string {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

// Marks made within the linger after the first one reach the cache in one Apply: a stream of
// writes costs the cache one round trip per linger, not one per commit. Until then the entries
// stay pending, so readers bypass the cache.
func TestMarksWithinTheLingerAreAppliedTogether(t *testing.T) {
	c := &cache{applied: map[int64]int{}}
	q := invalidation.New(c.apply, invalidation.Options{Name: "t", Linger: 200 * time.Millisecond}, quiet, nil)
	start(t, q)
	for id := range int64(20) {
		q.Mark(id % 3)
		time.Sleep(time.Millisecond)
	}
	assert.True(t, q.Pending(0), "pending until the linger has passed and the apply ran")
	require.Eventually(t, func() bool { return !q.Pending(0) && !q.Pending(1) && !q.Pending(2) }, 5*time.Second, 5*time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Equal(t, 1, c.calls, "one apply for the marks of the linger")
	assert.Equal(t, map[int64]int{0: 1, 1: 1, 2: 1}, c.applied)
}
