package localcache

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFreshValuesHitUntilTheyExpire(t *testing.T) {
	now := time.Unix(0, 0)
	c := New(500*time.Millisecond, 10)
	c.now = func() time.Time { return now }
	_, ok := c.Get(1)
	assert.False(t, ok)
	c.Put(1, []byte("a"), c.Generation())
	b, ok := c.Get(1)
	assert.True(t, ok)
	assert.Equal(t, "a", string(b))
	now = now.Add(499 * time.Millisecond)
	_, ok = c.Get(1)
	assert.True(t, ok)
	now = now.Add(time.Millisecond)
	_, ok = c.Get(1)
	assert.False(t, ok, "expired at the TTL")
}

func TestALoadThatRacedAnInvalidationIsNotStored(t *testing.T) {
	c := New(time.Minute, 10)
	gen := c.Generation() // a reader starts loading
	c.Invalidate(1)       // a write commits meanwhile
	c.Put(1, []byte("stale"), gen)
	_, ok := c.Get(1)
	assert.False(t, ok)
	c.Put(1, []byte("fresh"), c.Generation())
	b, ok := c.Get(1)
	assert.True(t, ok)
	assert.Equal(t, "fresh", string(b))
	c.Invalidate(1)
	_, ok = c.Get(1)
	assert.False(t, ok, "invalidated at once")
}

func TestTheCacheIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	c := New(time.Second, 3)
	c.now = func() time.Time { return now }
	for id := int64(1); id <= 3; id++ {
		c.Put(id, []byte{byte(id)}, c.Generation())
	}
	now = now.Add(2 * time.Second) // all expired: they go first
	c.Put(4, []byte{4}, c.Generation())
	assert.Len(t, c.entries, 1)
	for id := int64(5); id <= 10; id++ {
		c.Put(id, []byte{byte(id)}, c.Generation())
	}
	assert.Len(t, c.entries, 3)
	c.Put(10, []byte{10}, c.Generation()) // replacing does not evict
	assert.Len(t, c.entries, 3)
}

func TestDisabledCacheNeverHits(t *testing.T) {
	var c *Cache = New(0, 10)
	assert.Nil(t, c)
	c.Put(1, []byte("a"), c.Generation())
	c.Invalidate(1)
	_, ok := c.Get(1)
	assert.False(t, ok)
	assert.Nil(t, New(time.Second, 0))
}

func TestConcurrentUse(t *testing.T) {
	c := New(time.Second, 100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				id := int64(i % 50)
				if g%4 == 0 {
					c.Invalidate(id)
					continue
				}
				if _, ok := c.Get(id); !ok {
					c.Put(id, []byte("v"), c.Generation())
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, len(c.entries), 100)
}
