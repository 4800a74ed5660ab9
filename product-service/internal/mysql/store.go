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
	"sort"
	"strings"

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

// ReserveBatch applies several reservations in one transaction, with the same guarantees as
// Reserve: each product row is locked once (in id order, so batches never deadlock), the
// decisions are made in arrival order, every order id is recorded with its outcome, and the
// events go to the outbox. Orders already recorded are reported AlreadyProcessed. If a
// concurrent transaction records one of the order ids first, the batch rolls back and reports
// errBatchConflict so that the caller can fall back to one reservation at a time.
func (s *Store) ReserveBatch(ctx context.Context, reqs []catalog.ReservationRequest, events ReservationEventsFunc) ([]catalog.ReservationResult, error) {
	results := make([]catalog.ReservationResult, len(reqs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids := make([]any, len(reqs))
		for i, r := range reqs {
			ids[i] = r.OrderID
		}
		seen, err := processedAmong(ctx, tx, ids)
		if err != nil {
			return err
		}
		var fresh []catalog.ReservationRequest
		var freshIdx []int
		for i, r := range reqs {
			results[i] = catalog.ReservationResult{Request: r, Outcome: catalog.AlreadyProcessed}
			if !seen[r.OrderID] {
				seen[r.OrderID] = true // a duplicate inside the batch counts once
				fresh = append(fresh, r)
				freshIdx = append(freshIdx, i)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		stock, err := lockStock(ctx, tx, fresh)
		if err != nil {
			return err
		}
		before := make(map[int64]int32, len(stock))
		for id, q := range stock {
			before[id] = q
		}
		outcomes := catalog.DecideBatch(fresh, stock)
		for id, q := range stock {
			if q != before[id] {
				if _, err := tx.ExecContext(ctx, "UPDATE products SET qty = ?, updated_at = CURRENT_TIMESTAMP(3) WHERE id = ?", q, id); err != nil {
					return fmt.Errorf("reserve stock of product %d: %w", id, err)
				}
			}
		}
		var rows []string
		var args []any
		var evs []outbox.Event
		for j, r := range fresh {
			res := catalog.ReservationResult{Request: r, Outcome: outcomes[j]}
			results[freshIdx[j]] = res
			rows = append(rows, "(?, ?, ?, ?)")
			args = append(args, r.OrderID, r.ProductID, r.Qty, string(res.Outcome))
			e, err := events(res)
			if err != nil {
				return err
			}
			evs = append(evs, e...)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO processed_orders (order_id, product_id, qty, outcome) VALUES "+strings.Join(rows, ", "), args...); err != nil {
			if dbx.IsDuplicate(err) {
				return errBatchConflict
			}
			return fmt.Errorf("record %d orders: %w", len(fresh), err)
		}
		if err := outbox.Add(ctx, tx, evs...); err != nil {
			return fmt.Errorf("outbox for %d reservations: %w", len(fresh), err)
		}
		return nil
	})
	return results, err
}

// errBatchConflict means another transaction recorded one of the batch's orders meanwhile.
var errBatchConflict = errors.New("an order of the batch was recorded concurrently")

// IsBatchConflict reports whether ReserveBatch must be retried one reservation at a time.
func IsBatchConflict(err error) bool { return errors.Is(err, errBatchConflict) }

func processedAmong(ctx context.Context, tx *sql.Tx, ids []any) (map[int64]bool, error) {
	q := "SELECT order_id FROM processed_orders WHERE order_id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
	rows, err := tx.QueryContext(ctx, q, ids...)
	if err != nil {
		return nil, fmt.Errorf("look up processed orders: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up processed orders: %w", err)
		}
		seen[id] = true
	}
	return seen, rows.Err()
}

// lockStock locks the batch's products in id order and returns their stock; a product that
// does not exist is absent from the map.
func lockStock(ctx context.Context, tx *sql.Tx, reqs []catalog.ReservationRequest) (map[int64]int32, error) {
	idSet := map[int64]bool{}
	for _, r := range reqs {
		idSet[r.ProductID] = true
	}
	ids := make([]int64, 0, len(idSet))
	for id := range idSet {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, qty FROM products WHERE id IN (?"+strings.Repeat(", ?", len(ids)-1)+") ORDER BY id FOR UPDATE", args...)
	if err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	defer rows.Close()
	stock := map[int64]int32{}
	for rows.Next() {
		var id int64
		var qty int32
		if err := rows.Scan(&id, &qty); err != nil {
			return nil, fmt.Errorf("lock products: %w", err)
		}
		stock[id] = qty
	}
	return stock, rows.Err()
}
