// Package localcache owns the in-process cache in front of Redis for GET /products/{id}: the
// encoded product for a short TTL (default 500 ms), so a hot product is answered without a
// Redis round trip. Writes in this process invalidate it at once; writes in another replica are
// seen within the TTL (docs/adr/0006-local-product-cache.md). A value loaded before an invalidation can never be stored
// after it: stores carry the generation they saw before loading.
package localcache

import (
	"sync"
	"time"
)

// Cache is a bounded map of product ID → encoded product with a per-entry expiry.
type Cache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[int64]entry
	gen     uint64 // bumped by every Invalidate
}

type entry struct {
	body    []byte
	expires time.Time
}

// New returns a cache keeping values for ttl, at most max of them. A ttl ≤ 0 returns nil, and a
// nil *Cache is a valid cache that never hits.
func New(ttl time.Duration, max int) *Cache {
	if ttl <= 0 || max <= 0 {
		return nil
	}
	return &Cache{ttl: ttl, max: max, now: time.Now, entries: make(map[int64]entry)}
}

// Get returns the value of id while it is fresh.
func (c *Cache) Get(id int64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.body, true
}

// Generation is the token to pass to Put for a value about to be loaded.
func (c *Cache) Generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Put stores body for id unless something was invalidated since gen was taken. body must not be
// modified afterwards.
func (c *Cache) Put(id int64, body []byte, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		c.evict()
	}
	c.entries[id] = entry{body: body, expires: c.now().Add(c.ttl)}
}

// evict makes room: expired entries first, else an arbitrary one.
func (c *Cache) evict() {
	now := c.now()
	for id, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, id)
		}
	}
	for id := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		delete(c.entries, id)
	}
}

// Invalidate drops id; loads that started before are not stored. Call it after the change is
// committed and after Redis was invalidated, so a racing load cannot refill it from Redis.
func (c *Cache) Invalidate(id int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, id)
	c.gen++
	c.mu.Unlock()
}
