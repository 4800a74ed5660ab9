// Package mysql is product-service's MySQL adapter: the products table, the outbox rows written in
// the same transaction as every product change, and the dedupe table that makes stock reservation
// exactly-once. Migrations are embedded and applied at start (see platform/dbx).
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/product-service/internal/catalog"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the embedded migrations to the database of dsn.
func Migrate(dsn string) error {
	if err := dbx.Migrate(dsn, migrations, "migrations"); err != nil {
		return fmt.Errorf("migrate productdb: %w", err)
	}
	return nil
}

// EventsFunc builds the outbox events a committed product change must publish.
type EventsFunc func(catalog.Product) ([]outbox.Event, error)

// ReservationEventsFunc builds the outbox events of a decided reservation.
type ReservationEventsFunc func(catalog.ReservationResult) ([]outbox.Event, error)

// Store reads and writes products.
type Store struct{ db *sql.DB }

// NewStore wraps an open pool.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

const productColumns = "id, name, price, qty, created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanProduct(row scanner) (catalog.Product, error) {
	var p catalog.Product
	err := row.Scan(&p.ID, &p.Name, &p.Price, &p.Qty, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Get returns one product or catalog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (catalog.Product, error) {
	p, err := scanProduct(s.db.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Product{}, catalog.ErrNotFound
	}
	if err != nil {
		return catalog.Product{}, fmt.Errorf("get product %d: %w", id, err)
	}
	return p, nil
}

// List returns up to limit products with id > after, ascending.
func (s *Store) List(ctx context.Context, after int64, limit int) ([]catalog.Product, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+productColumns+" FROM products WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("list products after %d: %w", after, err)
	}
	defer rows.Close()
	out := make([]catalog.Product, 0, limit)
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

// Create inserts a product and its events in one transaction.
func (s *Store) Create(ctx context.Context, in catalog.Input, events EventsFunc) (catalog.Product, error) {
	if err := in.Validate(); err != nil {
		return catalog.Product{}, err
	}
	var p catalog.Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO products (name, price, qty) VALUES (?, ?, ?)", in.Name, in.Price, in.Qty)
		if err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		if p, err = scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = ?", id)); err != nil {
			return fmt.Errorf("read back product %d: %w", id, err)
		}
		return addEvents(ctx, tx, events, p)
	})
	return p, err
}

// Update applies change to the locked current row and stores the result with its events.
func (s *Store) Update(ctx context.Context, id int64, change func(catalog.Product) catalog.Input, events EventsFunc) (catalog.Product, error) {
	var p catalog.Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := lockProduct(ctx, tx, id)
		if err != nil {
			return err
		}
		in := change(cur)
		if err := in.Validate(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE products SET name = ?, price = ?, qty = ?, updated_at = CURRENT_TIMESTAMP(3) WHERE id = ?",
			in.Name, in.Price, in.Qty, id); err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
		if p, err = scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = ?", id)); err != nil {
			return fmt.Errorf("read back product %d: %w", id, err)
		}
		return addEvents(ctx, tx, events, p)
	})
	return p, err
}

// Delete removes a product and returns it as it was.
func (s *Store) Delete(ctx context.Context, id int64, events EventsFunc) (catalog.Product, error) {
	var p catalog.Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = lockProduct(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM products WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete product %d: %w", id, err)
		}
		return addEvents(ctx, tx, events, p)
	})
	return p, err
}

// Reserve decides and applies one order's stock reservation exactly once. In one transaction:
// the conditional decrement (qty = qty - n WHERE qty >= n, so stock never goes negative), the
// order id recorded in processed_orders with the outcome, and the outcome's events. A redelivered
// or concurrently duplicated order.created fails on the processed_orders key, which rolls its
// whole transaction back — including its decrement — so it changes nothing. The decrement comes
// first so that the product row is locked for as short a time as possible: three statements.
func (s *Store) Reserve(ctx context.Context, req catalog.ReservationRequest, events ReservationEventsFunc) (catalog.ReservationResult, error) {
	res := catalog.ReservationResult{Request: req}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		upd, err := tx.ExecContext(ctx, "UPDATE products SET qty = qty - ?, updated_at = CURRENT_TIMESTAMP(3) WHERE id = ? AND qty >= ?",
			req.Qty, req.ProductID, req.Qty)
		if err != nil {
			return fmt.Errorf("reserve %d of product %d: %w", req.Qty, req.ProductID, err)
		}
		n, err := upd.RowsAffected()
		if err != nil {
			return fmt.Errorf("reserve %d of product %d: %w", req.Qty, req.ProductID, err)
		}
		exists := n == 1
		if !exists {
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)", req.ProductID).Scan(&exists); err != nil {
				return fmt.Errorf("look up product %d: %w", req.ProductID, err)
			}
		}
		res.Outcome = catalog.Decide(n == 1, exists)
		if _, err := tx.ExecContext(ctx, "INSERT INTO processed_orders (order_id, product_id, qty, outcome) VALUES (?, ?, ?, ?)",
			req.OrderID, req.ProductID, req.Qty, string(res.Outcome)); err != nil {
			if dbx.IsDuplicate(err) {
				return errAlreadyProcessed
			}
			return fmt.Errorf("record order %d: %w", req.OrderID, err)
		}
		evs, err := events(res)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, evs...); err != nil {
			return fmt.Errorf("outbox for order %d: %w", req.OrderID, err)
		}
		return nil
	})
	if errors.Is(err, errAlreadyProcessed) {
		return catalog.ReservationResult{Request: req, Outcome: catalog.AlreadyProcessed}, nil
	}
	return res, err
}

// errAlreadyProcessed rolls back a duplicate reservation's transaction.
var errAlreadyProcessed = errors.New("order already processed")

// Ping checks the database for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func lockProduct(ctx context.Context, tx *sql.Tx, id int64) (catalog.Product, error) {
	p, err := scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = ? FOR UPDATE", id))
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Product{}, catalog.ErrNotFound
	}
	if err != nil {
		return catalog.Product{}, fmt.Errorf("lock product %d: %w", id, err)
	}
	return p, nil
}

func addEvents(ctx context.Context, tx *sql.Tx, events EventsFunc, p catalog.Product) error {
	if events == nil {
		return nil
	}
	evs, err := events(p)
	if err != nil {
		return err
	}
	if err := outbox.Add(ctx, tx, evs...); err != nil {
		return fmt.Errorf("outbox for product %d: %w", p.ID, err)
	}
	return nil
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
