// Package invalidation takes cache invalidation off the write path. A write marks the cache
// entries its commit made stale (Mark: in memory, never blocks, never fails); one goroutine
// applies the marks to the cache in batches, and keeps retrying with backoff while the cache is
// unreachable; until an entry's invalidation has been applied, readers bypass the cache for it
// (Pending). So a refusing or frozen Redis never slows a write, and once Redis is back — even
// with old contents — the writes it missed are invalidated before this replica reads it again
// (docs/adr/0008-one-write-path.md).
package invalidation

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Apply invalidates the cache entries of ids (e.g. bumps their generations in one pipeline).
type Apply func(ctx context.Context, ids []int64) error

// Options tune a Queue; zero values mean the defaults.
type Options struct {
	Name       string        // the cache, for logs and metrics (e.g. "product")
	Timeout    time.Duration // bound of one Apply call; default 250 ms
	MinBackoff time.Duration // first retry delay after a failed Apply; default 50 ms
	MaxBackoff time.Duration // longest retry delay; default 250 ms
	MaxBatch   int           // ids per Apply call; default 500
	// Linger is how long the queue collects marks after the first one before applying them:
	// under a steady stream of writes one Apply (one Redis round trip) then serves every write of
	// the interval, instead of one per commit. Readers bypass the cache meanwhile, so it delays
	// nothing a reader sees. Default 20 ms; negative: apply at once.
	Linger time.Duration
}

// Queue holds the invalidations not yet applied.
type Queue struct {
	apply Apply
	opts  Options
	log   *slog.Logger

	mu      sync.RWMutex
	pending map[int64]uint64 // id → sequence of its last Mark
	seq     uint64
	wake    chan struct{}

	gauge    prometheus.Gauge
	failures prometheus.Counter
}

// New returns a Queue over apply; reg may be nil.
func New(apply Apply, opts Options, log *slog.Logger, reg prometheus.Registerer) *Queue {
	if opts.Timeout <= 0 {
		opts.Timeout = 250 * time.Millisecond
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(250*time.Millisecond, opts.MinBackoff)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.Linger == 0 {
		opts.Linger = 20 * time.Millisecond
	}
	q := &Queue{apply: apply, opts: opts, log: log, pending: map[int64]uint64{}, wake: make(chan struct{}, 1),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_cache_invalidations_pending", Help: "Cache invalidations committed but not yet applied to the cache.",
			ConstLabels: prometheus.Labels{"cache": opts.Name},
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_cache_invalidation_failures_total", Help: "Failed attempts to apply cache invalidations (retried).",
			ConstLabels: prometheus.Labels{"cache": opts.Name},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{q.gauge, q.failures} {
			if err := reg.Register(c); err != nil {
				log.Warn("invalidation metrics not registered", slog.String("cache", opts.Name), slog.String("error", err.Error()))
			}
		}
	}
	return q
}

// Mark records that the cache entries of ids are stale; call it after the commit that made them so.
func (q *Queue) Mark(ids ...int64) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	for _, id := range ids {
		q.seq++
		q.pending[id] = q.seq
	}
	q.gauge.Set(float64(len(q.pending)))
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pending says whether id has an invalidation not yet applied: its cache entry must not be read
// or written until then.
func (q *Queue) Pending(id int64) bool {
	q.mu.RLock()
	_, ok := q.pending[id]
	q.mu.RUnlock()
	return ok
}

// Run applies marks until ctx is done, then makes one last bounded attempt.
func (q *Queue) Run(ctx context.Context) error {
	backoff := q.opts.MinBackoff
	failing := 0
	for {
		select {
		case <-ctx.Done():
			q.flush(context.WithoutCancel(ctx))
			return nil
		case <-q.wake:
		}
		if q.opts.Linger > 0 {
			t := time.NewTimer(q.opts.Linger)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		for ctx.Err() == nil {
			done, err := q.flush(ctx)
			if err == nil {
				if failing > 0 {
					q.log.InfoContext(ctx, "cache invalidations applied again", slog.String("cache", q.opts.Name), slog.Int("failedAttempts", failing))
				}
				failing, backoff = 0, q.opts.MinBackoff
				if done {
					break
				}
				continue
			}
			q.failures.Inc()
			if failing == 0 {
				q.log.WarnContext(ctx, "cache invalidations not applied; retrying", slog.String("cache", q.opts.Name), slog.String("error", err.Error()))
			}
			failing++
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, q.opts.MaxBackoff)
		}
	}
}

// flush applies up to MaxBatch pending invalidations; done says nothing else is pending.
func (q *Queue) flush(ctx context.Context) (done bool, err error) {
	q.mu.RLock()
	snap := make(map[int64]uint64, min(len(q.pending), q.opts.MaxBatch))
	for id, seq := range q.pending {
		if len(snap) == q.opts.MaxBatch {
			break
		}
		snap[id] = seq
	}
	q.mu.RUnlock()
	if len(snap) == 0 {
		return true, nil
	}
	actx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
	err = q.apply(actx, slices.Sorted(maps.Keys(snap)))
	cancel()
	if err != nil {
		return false, err
	}
	q.mu.Lock()
	for id, seq := range snap {
		if q.pending[id] == seq { // not marked again while applying
			delete(q.pending, id)
		}
	}
	done = len(q.pending) == 0
	q.gauge.Set(float64(len(q.pending)))
	q.mu.Unlock()
	return done, nil
}
