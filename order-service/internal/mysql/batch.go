package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
)

// BatchWriter writes the two hot writes in batches, several statements per round trip: new
// orders (POST /orders without an Idempotency-Key) and stock-result settlements. Its pool must be
// opened with dbx.PoolConfig{MultiStatements: true} and used for nothing else.
type BatchWriter struct{ db *sql.DB }

// NewBatchWriter wraps a multi-statement pool.
func NewBatchWriter(db *sql.DB) *BatchWriter { return &BatchWriter{db: db} }

// NewOrder is one order of CreateBatch: a priced, not yet stored order and its events.
type NewOrder struct {
	Order  ordering.Order
	Events EventsFunc
}

// CreateBatch stores PENDING orders and all their events in one transaction and returns them with
// their IDs and timestamps, in order, in two round trips whatever the batch size: the clock,
// START TRANSACTION, a multi-row INSERT of the orders and the read of their first ID; then a
// multi-row INSERT of the events + COMMIT. Either all orders are stored or none.
//
// The IDs of a multi-row INSERT are LAST_INSERT_ID() + i × auto_increment_increment: InnoDB
// reserves the whole range of a "simple insert" (row count known up front) at once, in every
// innodb_autoinc_lock_mode (docs/adr/0005).
func (w *BatchWriter) CreateBatch(ctx context.Context, batch []NewOrder) ([]ordering.Order, error) {
	created := make([]ordering.Order, len(batch))
	err := dbx.WithSession(ctx, w.db, func(s *dbx.Session) error {
		// One timestamp for the batch, MySQL's clock like the column default, kept in @now so the
		// rows get exactly the value the 201's createdAt shows (and GET /orders/{id} later).
		var q strings.Builder
		q.WriteString("SET @now := CURRENT_TIMESTAMP(3);\nSTART TRANSACTION;\n" +
			"INSERT INTO orders (product_id, qty, unit_price, total_price, status, created_at, updated_at) VALUES ")
		args := make([]any, 0, 4*len(batch))
		for i, n := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?, ?, 'PENDING', @now, @now)")
			o := n.Order
			args = append(args, o.ProductID, o.Qty, o.UnitPrice, o.TotalPrice)
		}
		q.WriteString(";\nSELECT CAST(@now AS DATETIME(3)), @@auto_increment_increment, LAST_INSERT_ID(), ROW_COUNT()")
		var (
			now                   time.Time
			step, first, inserted int64
		)
		if err := s.QueryRowArgs(ctx, q.String(), args, &now, &step, &first, &inserted); err != nil {
			return fmt.Errorf("insert %d orders: %w", len(batch), err)
		}
		if inserted != int64(len(batch)) {
			return fmt.Errorf("insert %d orders: %d inserted", len(batch), inserted)
		}
		var evs []outbox.Event
		for i, n := range batch {
			o := n.Order
			o.ID, o.Status, o.RejectReason, o.CreatedAt, o.UpdatedAt = first+int64(i)*step, ordering.Pending, "", now, now
			e, err := n.Events(o)
			if err != nil {
				return err
			}
			evs = append(evs, e...)
			created[i] = o
		}
		ins, args, err := outbox.Insert(evs...)
		if err != nil {
			return fmt.Errorf("outbox for %d orders: %w", len(batch), err)
		}
		if _, err := s.Exec(ctx, ins+";\nCOMMIT", args...); err != nil {
			return fmt.Errorf("outbox and commit of %d orders: %w", len(batch), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// SettleResult is one outcome of SettleBatch.
type SettleResult struct {
	ordering.Settled
	Err error // ordering.ErrNotFound for an unknown order
}

// updatedAt never goes before createdAt, whichever clock wrote it.
const settleOrder = "UPDATE orders SET status = ?, reject_reason = ?, updated_at = GREATEST(CURRENT_TIMESTAMP(3), created_at) WHERE id = ? AND status = 'PENDING'"

// SettleBatch applies stock results in one transaction. The common case — every order of the
// batch still PENDING — takes one UPDATE per outcome (confirmed, and rejected per reason) and two
// round trips. When an UPDATE changes fewer rows than it names (a redelivered result for a final
// order, an unknown order, the same order twice), the transaction is rolled back and the batch
// replayed with a guarded UPDATE per order and a look-up of the status of those it did not
// change. An error means none of the batch was applied.
func (w *BatchWriter) SettleBatch(ctx context.Context, batch []ordering.Settlement) ([]SettleResult, error) {
	if out, ok, err := w.settleAll(ctx, batch); err != nil || ok {
		return out, err
	}
	return w.settleEach(ctx, batch)
}

// settleAll settles the batch set-wise if every order in it is a distinct PENDING order.
func (w *BatchWriter) settleAll(ctx context.Context, batch []ordering.Settlement) ([]SettleResult, bool, error) {
	groups := map[string][]int64{} // reject reason ("" for confirmed) → order IDs, ascending
	for _, st := range batch {
		reason := ""
		if !st.Reserved {
			reason = "R:" + st.Reason
		}
		groups[reason] = append(groups[reason], st.OrderID)
	}
	reasons := slices.Sorted(maps.Keys(groups))
	var q strings.Builder
	q.WriteString("START TRANSACTION")
	var args []any
	for _, reason := range reasons {
		ids := groups[reason]
		slices.Sort(ids)
		if reason == "" {
			q.WriteString(";\nUPDATE orders SET status = 'CONFIRMED', reject_reason = NULL")
		} else {
			q.WriteString(";\nUPDATE orders SET status = 'REJECTED', reject_reason = ?")
			args = append(args, strings.TrimPrefix(reason, "R:"))
		}
		q.WriteString(", updated_at = GREATEST(CURRENT_TIMESTAMP(3), created_at) WHERE status = 'PENDING' AND id IN (?" + strings.Repeat(",?", len(ids)-1) + ")")
		for _, id := range ids {
			args = append(args, id)
		}
	}
	all := false
	err := dbx.WithSession(ctx, w.db, func(s *dbx.Session) error {
		res, err := s.Exec(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("settle %d orders: %w", len(batch), err)
		}
		var changed int64
		for _, n := range res.AllRowsAffected()[1:] {
			changed += n
		}
		end := "ROLLBACK"
		if all = changed == int64(len(batch)); all {
			end = "COMMIT"
		}
		if _, err := s.Exec(ctx, end); err != nil {
			return fmt.Errorf("settle %d orders: %s: %w", len(batch), end, err)
		}
		return nil
	})
	if err != nil || !all {
		return nil, false, err
	}
	out := make([]SettleResult, len(batch))
	for i, st := range batch {
		next, _ := ordering.Settle(ordering.Pending, st.Reserved)
		out[i] = SettleResult{Settled: ordering.Settled{Status: next, Changed: true}}
	}
	return out, true, nil
}

// settleEach settles the batch with a guarded UPDATE per order, in one round trip, then looks up
// the status of the orders it did not change.
func (w *BatchWriter) settleEach(ctx context.Context, batch []ordering.Settlement) ([]SettleResult, error) {
	// Rows are locked in id order, so two replicas settling overlapping batches cannot deadlock.
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(batch[a].OrderID, batch[b].OrderID) })
	var q strings.Builder
	q.WriteString("START TRANSACTION")
	args := make([]any, 0, 3*len(batch))
	for _, i := range order {
		st := batch[i]
		next, _ := ordering.Settle(ordering.Pending, st.Reserved)
		var reason any
		if !st.Reserved {
			reason = st.Reason
		}
		q.WriteString(";\n")
		q.WriteString(settleOrder)
		args = append(args, string(next), reason, st.OrderID)
	}
	q.WriteString(";\nCOMMIT")
	var affected []int64
	err := dbx.WithSession(ctx, w.db, func(s *dbx.Session) error {
		res, err := s.Exec(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("settle %d orders: %w", len(batch), err)
		}
		affected = res.AllRowsAffected()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(affected) != len(batch)+2 {
		return nil, fmt.Errorf("settle %d orders: got %d results", len(batch), len(affected)-2)
	}
	out := make([]SettleResult, len(batch))
	var unchanged []int64
	for k, i := range order {
		if affected[k+1] == 1 {
			next, _ := ordering.Settle(ordering.Pending, batch[i].Reserved)
			out[i] = SettleResult{Settled: ordering.Settled{Status: next, Changed: true}}
		} else {
			unchanged = append(unchanged, batch[i].OrderID)
		}
	}
	if len(unchanged) == 0 {
		return out, nil
	}
	// Already final (a redelivery) or unknown: their status is read after the commit; a final
	// status never changes again.
	statuses, err := w.statuses(ctx, unchanged)
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		if out[i].Changed {
			continue
		}
		if st, ok := statuses[batch[i].OrderID]; ok {
			out[i] = SettleResult{Settled: ordering.Settled{Status: st}}
		} else {
			out[i] = SettleResult{Err: ordering.ErrNotFound}
		}
	}
	return out, nil
}

func (w *BatchWriter) statuses(ctx context.Context, ids []int64) (map[int64]ordering.Status, error) {
	q := "SELECT id, status FROM orders WHERE id IN (?" + strings.Repeat(",?", len(ids)-1) + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := w.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("look up %d settled orders: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[int64]ordering.Status, len(ids))
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, fmt.Errorf("look up settled orders: %w", err)
		}
		out[id] = ordering.Status(st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up settled orders: %w", err)
	}
	return out, nil
}
