package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopworks/shop/product-service/internal/catalog"
)

// BatchReserver applies many reservations in one transaction; Reserver applies one.
type (
	BatchReserver func(ctx context.Context, reqs []catalog.ReservationRequest, correlationIDs map[int64]string) ([]catalog.ReservationResult, error)
	Reserver      func(ctx context.Context, req catalog.ReservationRequest, correlationID string) (catalog.ReservationResult, error)
)

// Batcher is group commit for stock reservations: concurrent handler calls queue their request,
// and one owner goroutine applies whatever has accumulated while the previous transaction ran
// as a single transaction. Under load the hot product row is locked once per batch instead of
// once per order; when idle a batch is a single order, so latency does not grow. Each caller
// returns only after its own reservation committed, so acks still follow commits.
type Batcher struct {
	in      chan pending
	max     int
	batch   BatchReserver
	single  Reserver
	isRetry func(error) bool
	timeout time.Duration
	// after runs once per product whose stock a committed batch changed (cache invalidation,
	// relay wake-up) — once per batch, not once per order.
	after func(ctx context.Context, productID int64)
}

type pending struct {
	req  catalog.ReservationRequest
	corr string
	done chan outcome
}

type outcome struct {
	res catalog.ReservationResult
	err error
}

// NewBatcher returns a batcher of at most max reservations per transaction. isConflict says
// when a batch must be replayed one reservation at a time (a concurrent duplicate).
func NewBatcher(max int, batch BatchReserver, single Reserver, isConflict func(error) bool, after func(ctx context.Context, productID int64)) *Batcher {
	if max < 1 {
		max = 1
	}
	return &Batcher{in: make(chan pending, max), max: max, batch: batch, single: single, isRetry: isConflict, after: after, timeout: 30 * time.Second}
}

// ErrStopped is returned to callers once the batcher has stopped.
var ErrStopped = errors.New("reservation batcher stopped")

// Reserve queues one reservation and waits for its transaction.
func (b *Batcher) Reserve(ctx context.Context, req catalog.ReservationRequest, correlationID string) (catalog.ReservationResult, error) {
	p := pending{req: req, corr: correlationID, done: make(chan outcome, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return catalog.ReservationResult{}, ctx.Err()
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return catalog.ReservationResult{}, ctx.Err()
	}
}

// Run applies batches until ctx is done; queued callers then get ErrStopped (their messages are
// requeued, never lost).
func (b *Batcher) Run(ctx context.Context) error {
	for {
		var first pending
		select {
		case <-ctx.Done():
			b.drain()
			return nil
		case first = <-b.in:
		}
		batch := []pending{first}
	fill:
		for len(batch) < b.max {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.apply(batch)
	}
}

func (b *Batcher) apply(batch []pending) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	reqs := make([]catalog.ReservationRequest, len(batch))
	corr := make(map[int64]string, len(batch))
	for i, p := range batch {
		reqs[i] = p.req
		if _, ok := corr[p.req.OrderID]; !ok {
			corr[p.req.OrderID] = p.corr
		}
	}
	results, err := b.batch(ctx, reqs, corr)
	if err == nil {
		b.afterCommit(ctx, results)
		for i, p := range batch {
			p.done <- outcome{res: results[i]}
		}
		return
	}
	if !b.isRetry(err) && len(batch) == 1 {
		batch[0].done <- outcome{err: err}
		return
	}
	// A conflicting or failing batch is replayed one reservation at a time, so one bad order
	// cannot fail the others.
	for _, p := range batch {
		res, err := b.single(ctx, p.req, p.corr)
		if err != nil {
			err = fmt.Errorf("reserve stock for order %d: %w", p.req.OrderID, err)
		} else {
			b.afterCommit(ctx, []catalog.ReservationResult{res})
		}
		p.done <- outcome{res: res, err: err}
	}
}

func (b *Batcher) afterCommit(ctx context.Context, results []catalog.ReservationResult) {
	if b.after == nil {
		return
	}
	done := map[int64]bool{}
	for _, r := range results {
		if r.Outcome == catalog.AlreadyProcessed || done[r.Request.ProductID] {
			continue
		}
		done[r.Request.ProductID] = true
		b.after(ctx, r.Request.ProductID)
	}
}

func (b *Batcher) drain() {
	for {
		select {
		case p := <-b.in:
			p.done <- outcome{err: ErrStopped}
		default:
			return
		}
	}
}
