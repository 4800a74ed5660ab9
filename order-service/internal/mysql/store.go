// Package mysql is order-service's MySQL adapter, implementing ordering.Store: orders, the
// idempotency keys of POST /orders (stored in the same transaction as the order they produced),
// the outbox rows of order.created, and the guarded status transitions of the stock saga. The
// hot writes are batched, several statements per round trip (batch.go); every call runs under a
// deadline. Migrations are embedded.
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the embedded migrations to the database of dsn.
func Migrate(dsn string) error {
	if err := dbx.Migrate(dsn, migrations, "migrations"); err != nil {
		return fmt.Errorf("migrate orderdb: %w", err)
	}
	return nil
}

// Events encode the outbox events of the changes (messaging adapts them to the event schemas).
type Events struct {
	// Created encodes a stored order's order.created; eventID is the order's token, so the event
	// and the row carry the same identity.
	Created func(o ordering.Order, eventID, correlationID string) (outbox.Event, error)
	// Cancelled encodes an order.cancelled.
	Cancelled func(c ordering.Cancellation) (outbox.Event, error)
}

// Options tune a Store.
type Options struct {
	// QueryTimeout bounds every call that has no earlier deadline of its own. Default 2 s.
	QueryTimeout time.Duration
	// ResolveShare is the part of a batch's time kept for finding out whether a commit whose
	// answer was lost went through. Default 25 % (at least 100 ms).
	ResolveShare float64
}

// Store reads and writes orders. db is the ordinary pool; batchDB a small pool opened with
// dbx.PoolConfig{MultiStatements: true}, used only by the batched writes.
type Store struct {
	db, batchDB *sql.DB
	events      Events
	opts        Options
}

var _ ordering.Store = (*Store)(nil)

// NewStore returns a Store over the two pools.
func NewStore(db, batchDB *sql.DB, events Events, opts Options) *Store {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Second
	}
	if opts.ResolveShare <= 0 || opts.ResolveShare >= 1 {
		opts.ResolveShare = 0.25
	}
	return &Store{db: db, batchDB: batchDB, events: events, opts: opts}
}

const orderColumns = "id, product_id, qty, unit_price, total_price, status, COALESCE(reject_reason, ''), created_at, updated_at, token"

type scanner interface{ Scan(dest ...any) error }

func scanOrder(row scanner) (ordering.Order, error) {
	var o ordering.Order
	var status string
	var token []byte
	err := row.Scan(&o.ID, &o.ProductID, &o.Qty, &o.UnitPrice, &o.TotalPrice, &status, &o.RejectReason, &o.CreatedAt, &o.UpdatedAt, &token)
	o.Status = ordering.Status(status)
	copy(o.Token[:], token)
	return o, err
}

// Get returns one order or ordering.ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (ordering.Order, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	o, err := scanOrder(s.db.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return ordering.Order{}, ordering.ErrNotFound
	}
	if err != nil {
		return ordering.Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	return o, nil
}

// ListByProduct returns up to limit orders of a product with id < before (0 = newest), newest first.
func (s *Store) ListByProduct(ctx context.Context, productID, before int64, limit int) ([]ordering.Order, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	q := "SELECT " + orderColumns + " FROM orders WHERE product_id = ? ORDER BY id DESC LIMIT ?"
	args := []any{productID, limit}
	if before > 0 {
		q = "SELECT " + orderColumns + " FROM orders WHERE product_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
		args = []any{productID, before, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
	}
	defer rows.Close()
	out := make([]ordering.Order, 0, limit)
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
	}
	return out, nil
}

// LookupKey returns what an idempotency key recorded, with the order it produced.
func (s *Store) LookupKey(ctx context.Context, key string) (ordering.KeyRecord, bool, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	var rec ordering.KeyRecord
	var status string
	var token []byte
	err := s.db.QueryRowContext(ctx,
		"SELECT k.fingerprint, k.created_at, o.id, o.product_id, o.qty, o.unit_price, o.total_price, o.status, COALESCE(o.reject_reason, ''), o.created_at, o.updated_at, o.token "+
			"FROM idempotency_keys k JOIN orders o ON o.id = k.order_id WHERE k.idem_key = ?", key).
		Scan(&rec.Fingerprint, &rec.CreatedAt, &rec.Order.ID, &rec.Order.ProductID, &rec.Order.Qty, &rec.Order.UnitPrice, &rec.Order.TotalPrice,
			&status, &rec.Order.RejectReason, &rec.Order.CreatedAt, &rec.Order.UpdatedAt, &token)
	rec.Order.Status = ordering.Status(status)
	copy(rec.Order.Token[:], token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ordering.KeyRecord{}, false, nil
	case err != nil:
		return ordering.KeyRecord{}, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return rec, true, nil
}

// ForgetKey deletes an expired key so that it can be recorded afresh; createdAt is the record
// being forgotten (a key recorded again meanwhile is kept).
func (s *Store) ForgetKey(ctx context.Context, key string, createdAt time.Time) error {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE idem_key = ? AND created_at <= ?", key, createdAt); err != nil {
		return fmt.Errorf("forget expired idempotency key: %w", err)
	}
	return nil
}

// PruneKeys deletes keys recorded before cutoff, at most limit at a time.
func (s *Store) PruneKeys(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	res, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE created_at < ? LIMIT ?", cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}

// CancelBatch locks the orders of the batch, applies decide to each request in turn (a second
// cancellation of one order in the batch sees the first's outcome), and stores the changes with
// their order.cancelled events, in one transaction.
func (s *Store) CancelBatch(ctx context.Context, batch []ordering.CancelRequest, decide func(ordering.Status) (ordering.Status, bool, error)) ([]ordering.CancelResult, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cancel %d orders: begin: %w", len(batch), err)
	}
	defer func() { _ = tx.Rollback() }()
	ids := make([]any, len(batch))
	for i, r := range batch {
		ids[i] = r.OrderID
	}
	// Locked in id order, as every writer of orders locks them, so batches never deadlock.
	rows, err := tx.QueryContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id IN ("+marks(len(ids))+") ORDER BY id FOR UPDATE", ids...)
	if err != nil {
		return nil, fmt.Errorf("cancel %d orders: lock: %w", len(batch), err)
	}
	found := make(map[int64]ordering.Order, len(batch))
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("cancel %d orders: %w", len(batch), err)
		}
		found[o.ID] = o
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("cancel %d orders: lock: %w", len(batch), err)
	}
	res := make([]ordering.CancelResult, len(batch))
	var changed []any
	var evs []outbox.Event
	for i, r := range batch {
		o, ok := found[r.OrderID]
		if !ok {
			res[i].Err = ordering.ErrNotFound
			continue
		}
		next, change, err := decide(o.Status)
		if err != nil {
			res[i].Err = err
			continue
		}
		if change {
			e, err := s.events.Cancelled(ordering.Cancellation{OrderID: o.ID, Token: o.Token, ProductID: o.ProductID, Qty: o.Qty,
				Reason: ordering.CancelledByClient, CorrelationID: r.CorrelationID})
			if err != nil {
				return nil, err
			}
			o.Status = next
			found[o.ID] = o
			changed, evs = append(changed, o.ID), append(evs, e)
		}
		res[i].Changed = change
	}
	if len(changed) > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE orders SET status = ?, updated_at = GREATEST(CURRENT_TIMESTAMP(3), created_at) WHERE id IN ("+marks(len(changed))+")",
			append([]any{string(ordering.Cancelled)}, changed...)...); err != nil {
			return nil, fmt.Errorf("cancel %d orders: %w", len(changed), err)
		}
		rows, err := tx.QueryContext(ctx, "SELECT id, updated_at FROM orders WHERE id IN ("+marks(len(changed))+")", changed...)
		if err != nil {
			return nil, fmt.Errorf("cancel %d orders: %w", len(changed), err)
		}
		for rows.Next() {
			var id int64
			var updated time.Time
			if err := rows.Scan(&id, &updated); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("cancel %d orders: %w", len(changed), err)
			}
			o := found[id]
			o.UpdatedAt = updated
			found[id] = o
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("cancel %d orders: %w", len(changed), err)
		}
		if err := outbox.Add(ctx, tx, evs...); err != nil {
			return nil, fmt.Errorf("cancel %d orders: %w", len(changed), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cancel %d orders: commit: %w", len(batch), err)
	}
	for i, r := range batch {
		if res[i].Err == nil {
			res[i].Order = found[r.OrderID]
		}
	}
	return res, nil
}

// Compensate stores the order.cancelled events of the cancellations in one transaction.
func (s *Store) Compensate(ctx context.Context, cs []ordering.Cancellation) error {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	evs := make([]outbox.Event, len(cs))
	for i, c := range cs {
		e, err := s.events.Cancelled(c)
		if err != nil {
			return err
		}
		evs[i] = e
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compensate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := outbox.Add(ctx, tx, evs...); err != nil {
		return fmt.Errorf("compensate %d reservations: %w", len(cs), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compensate %d reservations: commit: %w", len(cs), err)
	}
	return nil
}

// Ping checks the database for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
