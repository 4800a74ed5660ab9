// Package mysql is product-service's MySQL adapter, implementing catalog.Store: the products
// table, the outbox rows written in the same transaction as every product change, and the dedupe
// table that makes stock reservation exactly-once. Reservations are written in batches, several
// statements per round trip (dbx.Session); every call runs under a deadline. Migrations are
// embedded and applied at start (see platform/dbx).
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

// Events encode the outbox events of the changes (messaging adapts them to the event schemas).
type Events struct {
	Updated  func(p catalog.Product, correlationID string) (outbox.Event, error)
	Deleted  func(p catalog.Product, correlationID string) (outbox.Event, error)
	Reserved func(r catalog.ReservationResult) (outbox.Event, error) // a decided reservation's stock.* event
}

// Store reads and writes products. db is the ordinary pool; batchDB a small pool opened with
// dbx.PoolConfig{MultiStatements: true}, used only by the batched reservations.
type Store struct {
	db, batchDB *sql.DB
	events      Events
	timeout     time.Duration
}

var _ catalog.Store = (*Store)(nil)

// NewStore returns a Store over the two pools; every call without an earlier deadline is bounded
// by timeout (default 2 s).
func NewStore(db, batchDB *sql.DB, events Events, timeout time.Duration) *Store {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Store{db: db, batchDB: batchDB, events: events, timeout: timeout}
}

const productColumns = "id, name, price, qty, created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanProduct(row scanner) (catalog.Product, error) {
	var p catalog.Product
	err := row.Scan(&p.ID, &p.Name, &p.Price, &p.Qty, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Get returns one product or catalog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (catalog.Product, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.timeout)
	defer cancel()
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
	ctx, cancel := dbx.WithTimeout(ctx, s.timeout)
	defer cancel()
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

// Create inserts a product and its product.updated in one transaction.
func (s *Store) Create(ctx context.Context, in catalog.Input, correlationID string) (catalog.Product, error) {
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
		return addEvent(ctx, tx, s.events.Updated, p, correlationID)
	})
	return p, err
}

// Update applies change to the locked current row and stores the result with its product.updated.
func (s *Store) Update(ctx context.Context, id int64, change func(catalog.Product) (catalog.Input, error), correlationID string) (catalog.Product, error) {
	var p catalog.Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := lockProduct(ctx, tx, id)
		if err != nil {
			return err
		}
		in, err := change(cur)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE products SET name = ?, price = ?, qty = ?, updated_at = CURRENT_TIMESTAMP(3) WHERE id = ?",
			in.Name, in.Price, in.Qty, id); err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
		if p, err = scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = ?", id)); err != nil {
			return fmt.Errorf("read back product %d: %w", id, err)
		}
		return addEvent(ctx, tx, s.events.Updated, p, correlationID)
	})
	return p, err
}

// Delete removes a product, with its product.deleted, and returns it as it was.
func (s *Store) Delete(ctx context.Context, id int64, correlationID string) (catalog.Product, error) {
	var p catalog.Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = lockProduct(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM products WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete product %d: %w", id, err)
		}
		return addEvent(ctx, tx, s.events.Deleted, p, correlationID)
	})
	return p, err
}

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

func addEvent(ctx context.Context, tx *sql.Tx, encode func(catalog.Product, string) (outbox.Event, error), p catalog.Product, correlationID string) error {
	e, err := encode(p, correlationID)
	if err != nil {
		return err
	}
	if err := outbox.Add(ctx, tx, e); err != nil {
		return fmt.Errorf("outbox for product %d: %w", p.ID, err)
	}
	return nil
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	ctx, cancel := dbx.WithTimeout(ctx, s.timeout)
	defer cancel()
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

// ReserveBatch applies several reservations in one transaction, in two round trips: first the
// orders already recorded and the batch's products, locked in id order (so batches never
// deadlock); then — decided in arrival order by catalog.DecideBatch — the new stock, every
// order recorded with its outcome in processed_orders, the events, and COMMIT. Orders already
// recorded are reported AlreadyProcessed and change nothing. If a concurrent transaction records
// one of the orders first, nothing is applied and catalog.ErrReservationConflict returned.
func (s *Store) ReserveBatch(ctx context.Context, reqs []catalog.ReservationRequest) ([]catalog.ReservationResult, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.timeout)
	defer cancel()
	results := make([]catalog.ReservationResult, len(reqs))
	err := dbx.WithSession(ctx, s.batchDB, func(sess *dbx.Session) error {
		orderIDs := make([]any, len(reqs))
		var productIDs []int64
		for i, r := range reqs {
			orderIDs[i] = r.OrderID
			productIDs = append(productIDs, r.ProductID)
		}
		slices.Sort(productIDs)
		productIDs = slices.Compact(productIDs)
		args := append([]any(nil), orderIDs...)
		for _, id := range productIDs {
			args = append(args, id)
		}
		seen := map[int64]bool{}
		stock := map[int64]int32{} // absent: the product does not exist
		err := sess.Query(ctx, "START TRANSACTION;\n"+
			"SELECT order_id FROM processed_orders WHERE order_id IN ("+marks(len(orderIDs))+");\n"+
			"SELECT id, qty FROM products WHERE id IN ("+marks(len(productIDs))+") ORDER BY id FOR UPDATE",
			args, func(set int, vals []driver.Value) error {
				var id int64
				if set == 0 {
					if err := dbx.Scan(vals, &id); err != nil {
						return err
					}
					seen[id] = true
					return nil
				}
				var qty int32
				if err := dbx.Scan(vals, &id, &qty); err != nil {
					return err
				}
				stock[id] = qty
				return nil
			})
		if err != nil {
			return fmt.Errorf("lock %d products for %d orders: %w", len(productIDs), len(reqs), err)
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
			_, err := sess.Exec(ctx, "COMMIT")
			return err
		}
		before := make(map[int64]int32, len(stock))
		for id, q := range stock {
			before[id] = q
		}
		outcomes := catalog.DecideBatch(fresh, stock)
		var q strings.Builder
		args = args[:0]
		var changed []int64
		for _, id := range productIDs {
			if n, ok := stock[id]; ok && n != before[id] {
				changed = append(changed, id)
			}
		}
		if len(changed) > 0 {
			q.WriteString("UPDATE products SET qty = CASE id")
			for _, id := range changed {
				q.WriteString(" WHEN ? THEN ?")
				args = append(args, id, stock[id])
			}
			q.WriteString(" END, updated_at = CURRENT_TIMESTAMP(3) WHERE id IN (" + marks(len(changed)) + ");\n")
			for _, id := range changed {
				args = append(args, id)
			}
		}
		q.WriteString("INSERT INTO processed_orders (order_id, product_id, qty, outcome) VALUES ")
		evs := make([]outbox.Event, 0, len(fresh))
		for j, r := range fresh {
			res := catalog.ReservationResult{Request: r, Outcome: outcomes[j]}
			results[freshIdx[j]] = res
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?, ?)")
			args = append(args, r.OrderID, r.ProductID, r.Qty, string(res.Outcome))
			e, err := s.events.Reserved(res)
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		ins, evArgs, err := outbox.Insert(evs...)
		if err != nil {
			return fmt.Errorf("outbox for %d reservations: %w", len(fresh), err)
		}
		q.WriteString(";\n" + ins + ";\nCOMMIT")
		if _, err := sess.Exec(ctx, q.String(), append(args, evArgs...)...); err != nil {
			if dbx.IsDuplicate(err) {
				return catalog.ErrReservationConflict
			}
			return fmt.Errorf("reserve stock for %d orders: %w", len(fresh), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
