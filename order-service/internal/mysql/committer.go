package mysql

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/groupcommit"
)

// Committer group-commits the two hot writes — new orders of POST /orders (without an
// Idempotency-Key) and stock-result settlements — so concurrent callers share transactions, and
// runs afterCommit once per product a committed batch changed, not once per order.
type Committer struct {
	creates     *groupcommit.Batcher[NewOrder, ordering.Order]
	settles     *groupcommit.Batcher[ordering.Settlement, SettleResult]
	afterCommit func(ctx context.Context, productID int64)
}

// NewCommitter returns a Committer over store: batches of at most maxBatch writes, up to
// workers batches of each kind at once. afterCommit (cache invalidation, relay wake-up) may be nil.
func NewCommitter(store *BatchWriter, maxBatch, workers int, afterCommit func(ctx context.Context, productID int64)) *Committer {
	if afterCommit == nil {
		afterCommit = func(context.Context, int64) {}
	}
	c := &Committer{afterCommit: afterCommit}
	c.creates = groupcommit.New(func(ctx context.Context, batch []NewOrder) ([]ordering.Order, error) {
		orders, err := store.CreateBatch(ctx, batch)
		if err == nil {
			ids := make([]int64, len(orders))
			for i, o := range orders {
				ids[i] = o.ProductID
			}
			c.after(ctx, ids)
		}
		return orders, err
	}, groupcommit.Options{MaxBatch: maxBatch, Workers: workers})
	c.settles = groupcommit.New(func(ctx context.Context, batch []ordering.Settlement) ([]SettleResult, error) {
		res, err := store.SettleBatch(ctx, batch)
		if err == nil {
			var ids []int64
			for i, r := range res {
				if r.Changed {
					ids = append(ids, batch[i].ProductID)
				}
			}
			c.after(ctx, ids)
		}
		return res, err
	}, groupcommit.Options{MaxBatch: maxBatch, Workers: workers})
	return c
}

func (c *Committer) after(ctx context.Context, productIDs []int64) {
	seen := make(map[int64]bool, 1)
	for _, id := range productIDs {
		if !seen[id] {
			seen[id] = true
			c.afterCommit(ctx, id)
		}
	}
}

// Run commits batches until ctx is done. Stop it after the HTTP server and the consumers.
func (c *Committer) Run(ctx context.Context) error {
	errs := make(chan error, 2)
	go func() { errs <- c.creates.Run(ctx) }()
	go func() { errs <- c.settles.Run(ctx) }()
	return errors.Join(<-errs, <-errs)
}

// Create stores a PENDING order and its events; the order comes back with its ID and timestamps.
func (c *Committer) Create(ctx context.Context, n NewOrder) (ordering.Order, error) {
	return c.creates.Do(ctx, n)
}

// Settle applies a stock result; ordering.ErrNotFound for an unknown order.
func (c *Committer) Settle(ctx context.Context, s ordering.Settlement) (ordering.Settled, error) {
	r, err := c.settles.Do(ctx, s)
	if err != nil {
		return ordering.Settled{}, fmt.Errorf("settle order %d: %w", s.OrderID, err)
	}
	return r.Settled, r.Err
}
