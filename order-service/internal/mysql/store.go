// Package mysql is order-service's MySQL adapter: orders, the idempotency keys of POST /orders
// (stored in the same transaction as the order they produced), the outbox rows of order.created,
// and the guarded status transitions of the stock saga. Migrations are embedded.
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

// Store reads and writes orders.
type Store struct {
	db     *sql.DB
	keyTTL time.Duration
}

// NewStore wraps an open pool; idempotency keys live for keyTTL.
func NewStore(db *sql.DB, keyTTL time.Duration) *Store { return &Store{db: db, keyTTL: keyTTL} }

const orderColumns = "id, product_id, qty, unit_price, total_price, status, COALESCE(reject_reason, ''), created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanOrder(row scanner) (ordering.Order, error) {
	var o ordering.Order
	var status string
	err := row.Scan(&o.ID, &o.ProductID, &o.Qty, &o.UnitPrice, &o.TotalPrice, &status, &o.RejectReason, &o.CreatedAt, &o.UpdatedAt)
	o.Status = ordering.Status(status)
	return o, err
}

// Get returns one order or ordering.ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (ordering.Order, error) {
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

// Replay returns the order an idempotency key already produced: (order, true) for a retry of
// the same request, ErrIdempotencyKeyReused for a different one, (_, false) for an unknown key.
func (s *Store) Replay(ctx context.Context, key, fingerprint string) (ordering.Order, bool, error) {
	var fp string
	var orderID sql.NullInt64
	err := s.db.QueryRowContext(ctx,
		"SELECT fingerprint, order_id FROM idempotency_keys WHERE idem_key = ? AND created_at >= ?",
		key, time.Now().UTC().Add(-s.keyTTL)).Scan(&fp, &orderID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ordering.Order{}, false, nil
	case err != nil:
		return ordering.Order{}, false, fmt.Errorf("look up idempotency key: %w", err)
	case fp != fingerprint:
		return ordering.Order{}, false, ordering.ErrIdempotencyKeyReused
	case !orderID.Valid:
		return ordering.Order{}, false, ordering.ErrIdempotencyKeyInUse
	}
	o, err := s.Get(ctx, orderID.Int64)
	if err != nil {
		return ordering.Order{}, false, err
	}
	return o, true, nil
}

// Create stores a PENDING order, its idempotency key (when given) and its events in one
// transaction. A concurrent request with the same key waits on the key's row lock and then
// replays this order (replayed = true) instead of creating a second one.
func (s *Store) Create(ctx context.Context, o ordering.Order, key, fingerprint string, events func(ordering.Order) ([]outbox.Event, error)) (ordering.Order, bool, error) {
	created, err := s.create(ctx, o, key, fingerprint, events)
	if !dbx.IsDuplicate(err) {
		return created, false, err
	}
	// The key exists: a retry of the same request (replay it), a different request (422), one
	// still in flight, or an expired key that the pruner has not removed yet (reuse it once).
	replayed, ok, err := s.Replay(ctx, key, fingerprint)
	switch {
	case err != nil:
		return ordering.Order{}, false, err
	case ok:
		return replayed, true, nil
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE idem_key = ? AND created_at < ?", key, time.Now().UTC().Add(-s.keyTTL))
	if err != nil {
		return ordering.Order{}, false, fmt.Errorf("expire idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ordering.Order{}, false, ordering.ErrIdempotencyKeyInUse
	}
	created, err = s.create(ctx, o, key, fingerprint, events)
	if dbx.IsDuplicate(err) {
		return ordering.Order{}, false, ordering.ErrIdempotencyKeyInUse
	}
	return created, false, err
}

func (s *Store) create(ctx context.Context, o ordering.Order, key, fingerprint string, events func(ordering.Order) ([]outbox.Event, error)) (ordering.Order, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return ordering.Order{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if key != "" {
		// The first statement of the transaction: a concurrent duplicate waits here on the row
		// lock until this transaction ends, then sees the committed key.
		if _, err := tx.ExecContext(ctx, "INSERT INTO idempotency_keys (idem_key, fingerprint) VALUES (?, ?)", key, fingerprint); err != nil {
			if dbx.IsDuplicate(err) {
				return ordering.Order{}, err
			}
			return ordering.Order{}, fmt.Errorf("record idempotency key: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO orders (product_id, qty, unit_price, total_price, status) VALUES (?, ?, ?, ?, ?)",
		o.ProductID, o.Qty, o.UnitPrice, o.TotalPrice, string(ordering.Pending))
	if err != nil {
		return ordering.Order{}, fmt.Errorf("insert order for product %d: %w", o.ProductID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return ordering.Order{}, fmt.Errorf("insert order: %w", err)
	}
	created, err := scanOrder(tx.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
	if err != nil {
		return ordering.Order{}, fmt.Errorf("read back order %d: %w", id, err)
	}
	if key != "" {
		if _, err := tx.ExecContext(ctx, "UPDATE idempotency_keys SET order_id = ? WHERE idem_key = ?", id, key); err != nil {
			return ordering.Order{}, fmt.Errorf("link idempotency key to order %d: %w", id, err)
		}
	}
	evs, err := events(created)
	if err != nil {
		return ordering.Order{}, err
	}
	if err := outbox.Add(ctx, tx, evs...); err != nil {
		return ordering.Order{}, fmt.Errorf("outbox for order %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return ordering.Order{}, fmt.Errorf("commit order %d: %w", id, err)
	}
	return created, nil
}

// EventsFunc builds the outbox events of a stored order.
type EventsFunc func(ordering.Order) ([]outbox.Event, error)

// PruneIdempotencyKeys deletes expired keys, at most limit at a time.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE created_at < ? LIMIT ?", time.Now().UTC().Add(-s.keyTTL), limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}

// Ping checks the database for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
