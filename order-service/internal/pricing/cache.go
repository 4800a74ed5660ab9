// Package pricing owns order-service's view of product prices and stock: an in-memory,
// bounded, stale-while-revalidate cache in front of product-service (through the generated
// productclient). A fresh entry is served as is; a stale one (up to a maximum staleness) is
// served while one background refresh runs; anything older waits for a load. Concurrent loads of
// one product are coalesced. product.updated events replace entries and product.deleted events
// mark them deleted, so a deleted product is never orderable once its deletion is known.
package pricing

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shopworks/shop/order-service/internal/ordering"
)

// Loader fetches a product: ordering.ErrProductNotFound when it does not exist,
// ordering.ErrProductServiceUnavailable when product-service cannot answer.
type Loader func(ctx context.Context, id int64) (Entry, error)

// Entry is a cached product with the time product-service last changed it.
type Entry struct {
	Product   ordering.Product
	UpdatedAt time.Time
}

// Options tune the cache.
type Options struct {
	Fresh       time.Duration // served without a refresh (default 30 s)
	MaxStale    time.Duration // served while refreshing, up to this age (default 5 min)
	NegativeTTL time.Duration // how long "not found" is remembered (default 2 s)
	Size        int           // entries kept (default 10 000)
	LoadTimeout time.Duration // bound of a background refresh (default 3 s)
}

type entry struct {
	id        int64
	value     Entry
	missing   bool // product-service said 404
	deleted   bool // a product.deleted event said so: final
	fetchedAt time.Time
	elem      *list.Element
}

// Cache is the price cache. Close stops its background refreshes.
type Cache struct {
	load  Loader
	opts  Options
	now   func() time.Time
	loads singleflight.Group

	mu      sync.Mutex
	entries map[int64]*entry
	lru     *list.List // front = most recently used

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a cache over load.
func New(load Loader, opts Options) *Cache {
	if opts.Fresh <= 0 {
		opts.Fresh = 30 * time.Second
	}
	if opts.MaxStale < opts.Fresh {
		opts.MaxStale = 5 * time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 2 * time.Second
	}
	if opts.Size <= 0 {
		opts.Size = 10000
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 3 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{load: load, opts: opts, now: time.Now, entries: map[int64]*entry{}, lru: list.New(), ctx: ctx, cancel: cancel}
}

// Close stops background refreshes and waits for them.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
}

// Get returns the product, from the cache when it is fresh enough.
func (c *Cache) Get(ctx context.Context, id int64) (ordering.Product, error) {
	c.mu.Lock()
	e := c.entries[id]
	if e != nil {
		c.lru.MoveToFront(e.elem)
		age := c.now().Sub(e.fetchedAt)
		switch {
		case e.deleted:
			c.mu.Unlock()
			return ordering.Product{}, ordering.ErrProductNotFound
		case e.missing && age < c.opts.NegativeTTL:
			c.mu.Unlock()
			return ordering.Product{}, ordering.ErrProductNotFound
		case !e.missing && age < c.opts.Fresh:
			p := e.value.Product
			c.mu.Unlock()
			return p, nil
		case !e.missing && age < c.opts.MaxStale:
			p := e.value.Product
			c.mu.Unlock()
			c.refreshInBackground(id)
			return p, nil
		}
	}
	c.mu.Unlock()
	v, err, _ := c.loads.Do(strconv.FormatInt(id, 10), func() (any, error) { return c.fetch(ctx, id) })
	if err != nil {
		return ordering.Product{}, err
	}
	return v.(Entry).Product, nil
}

func (c *Cache) refreshInBackground(id int64) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.LoadTimeout)
		defer cancel()
		// Errors keep the stale entry; the next request past MaxStale waits for a load.
		_, _, _ = c.loads.Do(strconv.FormatInt(id, 10), func() (any, error) { return c.fetch(ctx, id) })
	}()
}

func (c *Cache) fetch(ctx context.Context, id int64) (Entry, error) {
	v, err := c.load(ctx, id)
	switch {
	case errors.Is(err, ordering.ErrProductNotFound):
		c.store(id, func(e *entry) { e.missing, e.value = true, Entry{} })
		return Entry{}, err
	case err != nil:
		return Entry{}, err
	}
	c.store(id, func(e *entry) {
		if e.deleted {
			return
		}
		e.missing, e.value = false, v
	})
	return v, nil
}

// store creates or updates id's entry under the lock and evicts the least recently used.
func (c *Cache) store(id int64, update func(*entry)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id]
	if e == nil {
		e = &entry{id: id}
		e.elem = c.lru.PushFront(e)
		c.entries[id] = e
	}
	update(e)
	e.fetchedAt = c.now()
	for c.lru.Len() > c.opts.Size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*entry).id)
	}
}

// Updated applies a product.updated event, unless the cache already holds a newer state.
func (c *Cache) Updated(v Entry) {
	c.mu.Lock()
	e := c.entries[v.Product.ID]
	newer := e == nil || e.missing || !v.UpdatedAt.Before(e.value.UpdatedAt)
	deleted := e != nil && e.deleted
	c.mu.Unlock()
	if newer && !deleted {
		c.store(v.Product.ID, func(e *entry) { e.missing, e.value = false, v })
	}
}

// Deleted applies a product.deleted event: the product is never served again.
func (c *Cache) Deleted(id int64) {
	c.store(id, func(e *entry) { e.deleted, e.value = true, Entry{} })
}

// Len is the number of entries held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
