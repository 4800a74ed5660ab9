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
	"github.com/shopworks/shop/platform/tracing"
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
	Updated func(p catalog.Product, correlationID string) (outbox.Event, error)
	Deleted func(p catalog.Product, correlationID string) (outbox.Event, error)
	// Results encodes the stock.results of one transaction's decided reservations.
	Results func(rs []catalog.StockResult) (outbox.Event, error)
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

// ApplyStock decides and applies a batch of stock requests in one transaction, in two round
// trips: first the orders of the batch already recorded and the requests' products, locked in id
// order so that batches never deadlock; then —
// decided in arrival order by catalog.DecideStock — the new stock, the new and released records,
// one stock.results event for the reservations decided, and COMMIT. If a concurrent transaction
// records one of the orders first, nothing is applied and catalog.ErrReservationConflict
// returned.
func (s *Store) ApplyStock(ctx context.Context, reqs []catalog.StockRequest) ([]catalog.StockResult, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.timeout)
	defer cancel()
	var results []catalog.StockResult
	err := dbx.WithSession(ctx, s.batchDB, func(sess *dbx.Session) error {
		keys := make([]any, len(reqs))
		var productIDs []int64
		for i, r := range reqs {
			keys[i] = r.Key()
			productIDs = append(productIDs, r.ProductID)
		}
		slices.Sort(productIDs)
		productIDs = slices.Compact(productIDs)
		args := make([]any, 0, len(productIDs)+len(keys))
		for _, id := range productIDs {
			args = append(args, id)
		}
		args = append(args, keys...)
		records := map[string]catalog.Record{}
		stock := map[int64]int32{} // absent: the product does not exist
		// READ COMMITTED: the locking reads of orders not recorded yet take no gap locks, so two
		// replicas' batches cannot deadlock on them; a duplicate order fails the later INSERT.
		// The products first, then the orders: every transaction that records an order holds its
		// product's lock before it touches the order's record, so none waits for a record while
		// holding a product another one waits for.
		err := sess.Query(ctx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\nSTART TRANSACTION;\n"+
			"SELECT id, qty FROM products WHERE id IN ("+marks(len(productIDs))+") ORDER BY id FOR UPDATE;\n"+
			"SELECT order_key, outcome, product_id, qty FROM processed_orders WHERE order_key IN ("+marks(len(keys))+") FOR UPDATE",
			args, func(set int, vals []driver.Value) error {
				if set == 1 {
					var key, outcome string
					var rec catalog.Record
					if err := dbx.Scan(vals, &key, &outcome, &rec.ProductID, &rec.Qty); err != nil {
						return err
					}
					rec.Outcome = catalog.Outcome(outcome)
					records[key] = rec
					return nil
				}
				var id int64
				var qty int32
				if err := dbx.Scan(vals, &id, &qty); err != nil {
					return err
				}
				stock[id] = qty
				return nil
			})
		if err != nil {
			return fmt.Errorf("lock orders and products of %d stock requests: %w", len(reqs), err)
		}
		d := catalog.DecideStock(reqs, records, stock)
		results = d.Results
		var q strings.Builder
		args = args[:0]
		if len(d.Changed) > 0 {
			q.WriteString("UPDATE products SET qty = CASE id")
			for _, id := range d.Changed {
				q.WriteString(" WHEN ? THEN ?")
				args = append(args, id, stock[id])
			}
			q.WriteString(" END, updated_at = CURRENT_TIMESTAMP(3) WHERE id IN (" + marks(len(d.Changed)) + ");\n")
			for _, id := range d.Changed {
				args = append(args, id)
			}
		}
		if len(d.New) > 0 {
			q.WriteString("INSERT INTO processed_orders (order_key, order_id, product_id, qty, outcome) VALUES ")
			first := true
			for _, r := range reqs { // in request order: deterministic statements
				rec, ok := d.New[r.Key()]
				if !ok {
					continue
				}
				delete(d.New, r.Key())
				if !first {
					q.WriteByte(',')
				}
				first = false
				q.WriteString("(?, ?, ?, ?, ?)")
				args = append(args, r.Key(), r.OrderID, rec.ProductID, rec.Qty, string(rec.Outcome))
			}
			q.WriteString(";\n")
		}
		if len(d.Released) > 0 {
			q.WriteString("UPDATE processed_orders SET outcome = ? WHERE order_key IN (" + marks(len(d.Released)) + ");\n")
			args = append(args, string(catalog.Released))
			for _, k := range d.Released {
				args = append(args, k)
			}
		}
		var answered []catalog.StockResult
		for _, r := range d.Results {
			if r.Outcome.Answers() {
				answered = append(answered, r)
			}
		}
		if len(answered) > 0 {
			e, err := s.events.Results(answered)
			if err != nil {
				return err
			}
			e.Traceparent = tracing.Traceparent(ctx) // the batch's own trace (groupcommit), linked to the orders'

			ins, evArgs, err := outbox.Insert(e)
			if err != nil {
				return fmt.Errorf("outbox for %d stock results: %w", len(answered), err)
			}
			q.WriteString(ins + ";\n")
			args = append(args, evArgs...)
		}
		q.WriteString("COMMIT")
		if _, err := sess.Exec(ctx, q.String(), args...); err != nil {
			if dbx.IsDuplicate(err) || dbx.IsDeadlock(err) {
				return catalog.ErrReservationConflict
			}
			return fmt.Errorf("apply %d stock requests: %w", len(reqs), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
