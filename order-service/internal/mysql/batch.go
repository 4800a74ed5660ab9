package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/outbox"
)

// CreateBatch stores PENDING orders, their idempotency keys and their order.created events in
// one transaction and returns them with their IDs and timestamps, in order, in two round trips
// whatever the batch size: the clock, START TRANSACTION, a multi-row INSERT of the orders and the
// read of their first ID; then the keys, the events and COMMIT. Either all are stored or none.
//
// The IDs of a multi-row INSERT are LAST_INSERT_ID() + i × auto_increment_increment: InnoDB
// reserves the whole range of a "simple insert" at once, in every innodb_autoinc_lock_mode
// (docs/adr/0005-group-commit.md).
//
// Outcomes: nil — stored. ordering.ErrKeyTaken — an idempotency key of the batch was recorded
// by another request; nothing stored. ordering.ErrOutcomeUnknown — the answer to COMMIT was lost
// and the database could not be asked in time whether it went through. Any other error — nothing
// stored: either the server refused a statement, or COMMIT was never sent, or it was lost and a
// locking read of the orders' IDs and tokens found them absent (docs/adr/0008-one-write-path.md).
func (s *Store) CreateBatch(ctx context.Context, batch []ordering.NewOrder) ([]ordering.Order, error) {
	// The transaction gets all but a share of the time; the rest is kept to resolve a lost commit.
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	created := make([]ordering.Order, len(batch))
	commitSent := false
	err := dbx.WithSession(wctx, s.batchDB, func(sess *dbx.Session) error {
		// One timestamp for the batch, MySQL's clock like the column default, kept in @now so the
		// rows get exactly the value the 201's createdAt shows (and GET /orders/{id} later).
		var q strings.Builder
		q.WriteString("SET @now := CURRENT_TIMESTAMP(3);\nSTART TRANSACTION;\n" +
			"INSERT INTO orders (product_id, qty, unit_price, total_price, status, token, created_at, updated_at) VALUES ")
		args := make([]any, 0, 6*len(batch))
		for i, n := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, @now, @now)")
			o := n.Order
			args = append(args, o.ProductID, o.Qty, o.UnitPrice, o.TotalPrice, string(ordering.Pending), n.Token[:])
		}
		q.WriteString(";\nSELECT CAST(@now AS DATETIME(3)), @@auto_increment_increment, LAST_INSERT_ID(), ROW_COUNT()")
		var (
			now                   time.Time
			step, first, inserted int64
		)
		if err := sess.QueryRowArgs(wctx, q.String(), args, &now, &step, &first, &inserted); err != nil {
			return fmt.Errorf("insert %d orders: %w", len(batch), err)
		}
		if inserted != int64(len(batch)) {
			return fmt.Errorf("insert %d orders: %d inserted", len(batch), inserted)
		}
		var keys strings.Builder
		var keyArgs []any
		evs := make([]outbox.Event, 0, len(batch))
		for i, n := range batch {
			o := n.Order
			o.ID, o.Token, o.Status, o.RejectReason, o.CreatedAt, o.UpdatedAt = first+int64(i)*step, n.Token, ordering.Pending, "", now, now
			e, err := s.events.Created(o, n.Token.String(), n.CorrelationID)
			if err != nil {
				return err
			}
			e.Traceparent = n.Traceparent
			evs = append(evs, e)
			created[i] = o
			if n.Key != "" {
				if keys.Len() == 0 {
					keys.WriteString("INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, created_at) VALUES ")
				} else {
					keys.WriteByte(',')
				}
				keys.WriteString("(?, ?, ?, @now)")
				keyArgs = append(keyArgs, n.Key, n.Fingerprint, o.ID)
			}
		}
		ins, evArgs, err := outbox.Insert(evs...)
		if err != nil {
			return fmt.Errorf("outbox for %d orders: %w", len(batch), err)
		}
		stmts := ins + ";\nCOMMIT"
		if keys.Len() > 0 {
			stmts = keys.String() + ";\n" + stmts
			evArgs = append(keyArgs, evArgs...)
		}
		commitSent = true
		if _, err := sess.Exec(wctx, stmts, evArgs...); err != nil {
			if dbx.IsDuplicate(err) {
				return ordering.ErrKeyTaken
			}
			return fmt.Errorf("store and commit %d orders: %w", len(batch), err)
		}
		return nil
	})
	switch {
	case err == nil:
		return created, nil
	case !commitSent || errors.Is(err, ordering.ErrKeyTaken) || dbx.Answered(err):
		return nil, err
	}
	// COMMIT was sent and its answer lost: ask the database, on another connection, whether the
	// rows are there.
	stored, rerr := s.committed(ctx, created, batch)
	switch {
	case rerr != nil:
		return nil, fmt.Errorf("%w: %w (resolving: %w)", ordering.ErrOutcomeUnknown, err, rerr)
	case stored:
		return created, nil
	default:
		return nil, err
	}
}

// writeContext is ctx shortened by the share of its time kept for resolving a lost commit.
func (s *Store) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	dl, _ := ctx.Deadline()
	reserve := max(time.Duration(float64(time.Until(dl))*s.opts.ResolveShare), 100*time.Millisecond)
	wctx, wcancel := context.WithDeadline(ctx, dl.Add(-reserve))
	return wctx, func() { wcancel(); cancel() }
}

// committed says whether the batch whose COMMIT answer was lost is stored: its rows carry their
// tokens. The read locks the rows, so it waits for a commit or rollback still in progress (the
// server may still be finishing the lost transaction) instead of reading around it.
func (s *Store) committed(ctx context.Context, created []ordering.Order, batch []ordering.NewOrder) (bool, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	args := make([]any, len(created))
	for i, o := range created {
		args[i] = o.ID
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, token FROM orders WHERE id IN (?"+strings.Repeat(",?", len(args)-1)+") LOCK IN SHARE MODE", args...)
	if err != nil {
		return false, fmt.Errorf("look up %d orders after a lost commit: %w", len(created), err)
	}
	defer rows.Close()
	tokens := make(map[int64][]byte, len(created))
	for rows.Next() {
		var id int64
		var token []byte
		if err := rows.Scan(&id, &token); err != nil {
			return false, fmt.Errorf("look up orders after a lost commit: %w", err)
		}
		tokens[id] = token
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("look up orders after a lost commit: %w", err)
	}
	matched := 0
	for i, o := range created {
		if t, ok := tokens[o.ID]; ok && string(t) == string(batch[i].Token[:]) {
			matched++
		}
	}
	switch matched {
	case len(created):
		return true, nil
	case 0:
		return false, nil
	}
	return false, fmt.Errorf("%d of %d orders found after a lost commit", matched, len(created))
}

// SettleBatch applies stock results in one transaction. A result settles an order only if its
// token is the order's (orders stored before tokens existed have none and match by ID). The
// common case — every order of the batch a distinct PENDING order of ours — takes one UPDATE per
// group of ordering.GroupSettlements and two round trips. When an UPDATE changes fewer rows than
// it names (a redelivered result for a final order, an unknown order or token, the same order
// twice), the transaction is rolled back and the batch replayed with a guarded UPDATE per order
// and a look-up of those it did not change. An error means none of the batch is known to be
// applied (a retry is harmless: the UPDATEs only move PENDING orders).
func (s *Store) SettleBatch(ctx context.Context, batch []ordering.Settlement) ([]ordering.SettleResult, error) {
	ctx, cancel := dbx.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	if out, ok, err := s.settleAll(ctx, batch); err != nil || ok {
		return out, err
	}
	return s.settleEach(ctx, batch)
}

// settleSet never puts updated_at before created_at, and moves only PENDING orders whose token is
// the result's.
const settleSet = ", updated_at = GREATEST(CURRENT_TIMESTAMP(3), created_at) WHERE status = ? AND (token IS NULL OR (id, token) IN ("

// settleAll settles the batch set-wise if every order in it is a distinct PENDING order.
func (s *Store) settleAll(ctx context.Context, batch []ordering.Settlement) ([]ordering.SettleResult, bool, error) {
	var q strings.Builder
	q.WriteString("START TRANSACTION")
	var args []any
	tokens := make(map[int64]uuid.UUID, len(batch))
	for _, st := range batch {
		tokens[st.OrderID] = st.Token
	}
	for _, g := range ordering.GroupSettlements(batch) {
		q.WriteString(";\nUPDATE orders SET status = ?, reject_reason = ?" + settleSet +
			strings.TrimSuffix(strings.Repeat("(?,?),", len(g.OrderIDs)), ",") + ")) AND id IN (" + marks(len(g.OrderIDs)) + ")")
		args = append(args, string(g.Status), nullable(g.Reason), string(ordering.Pending))
		for _, id := range g.OrderIDs {
			tok := tokens[id]
			args = append(args, id, tok[:])
		}
		for _, id := range g.OrderIDs {
			args = append(args, id)
		}
	}
	all := false
	err := dbx.WithSession(ctx, s.batchDB, func(sess *dbx.Session) error {
		res, err := sess.Exec(ctx, q.String(), args...)
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
		if _, err := sess.Exec(ctx, end); err != nil {
			return fmt.Errorf("settle %d orders: %s: %w", len(batch), end, err)
		}
		return nil
	})
	if err != nil || !all {
		return nil, false, err
	}
	out := make([]ordering.SettleResult, len(batch))
	for i, st := range batch {
		next, _ := ordering.Settle(ordering.Pending, st.Reserved)
		out[i] = ordering.SettleResult{Settled: ordering.Settled{Status: next, Changed: true}}
	}
	return out, true, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// settleEach settles the batch with a guarded UPDATE per order, in one round trip, then looks up
// the status of the orders it did not change.
func (s *Store) settleEach(ctx context.Context, batch []ordering.Settlement) ([]ordering.SettleResult, error) {
	// Rows are locked in id order, so two replicas settling overlapping batches cannot deadlock.
	order := ordering.ByOrderID(batch)
	var q strings.Builder
	q.WriteString("START TRANSACTION")
	args := make([]any, 0, 4*len(batch))
	for _, i := range order {
		st := batch[i]
		next, _ := ordering.Settle(ordering.Pending, st.Reserved)
		reason := ""
		if !st.Reserved {
			reason = st.Reason
		}
		q.WriteString(";\nUPDATE orders SET status = ?, reject_reason = ?" + settleSet + "(?,?))) AND id = ?")
		args = append(args, string(next), nullable(reason), string(ordering.Pending), st.OrderID, st.Token[:], st.OrderID)
	}
	q.WriteString(";\nCOMMIT")
	var affected []int64
	err := dbx.WithSession(ctx, s.batchDB, func(sess *dbx.Session) error {
		res, err := sess.Exec(ctx, q.String(), args...)
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
	out := make([]ordering.SettleResult, len(batch))
	var unchanged []int64
	for k, i := range order {
		if affected[k+1] == 1 {
			next, _ := ordering.Settle(ordering.Pending, batch[i].Reserved)
			out[i] = ordering.SettleResult{Settled: ordering.Settled{Status: next, Changed: true}}
		} else {
			unchanged = append(unchanged, batch[i].OrderID)
		}
	}
	if len(unchanged) == 0 {
		return out, nil
	}
	// Already final (a redelivery), unknown, or named with another token: read after the commit;
	// a final status never changes again through the saga.
	known, err := s.statuses(ctx, unchanged)
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		if out[i].Changed {
			continue
		}
		k, ok := known[batch[i].OrderID]
		if ok && (k.token == nil || string(k.token) == string(batch[i].Token[:])) {
			out[i] = ordering.SettleResult{Settled: ordering.Settled{Status: k.status}}
		} else {
			out[i] = ordering.SettleResult{Err: ordering.ErrNotFound}
		}
	}
	return out, nil
}

type stored struct {
	status ordering.Status
	token  []byte // nil for an order stored before tokens existed
}

func (s *Store) statuses(ctx context.Context, ids []int64) (map[int64]stored, error) {
	q := "SELECT id, status, token FROM orders WHERE id IN (?" + strings.Repeat(",?", len(ids)-1) + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("look up %d settled orders: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[int64]stored, len(ids))
	for rows.Next() {
		var id int64
		var st string
		var token []byte
		if err := rows.Scan(&id, &st, &token); err != nil {
			return nil, fmt.Errorf("look up settled orders: %w", err)
		}
		out[id] = stored{status: ordering.Status(st), token: token}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up settled orders: %w", err)
	}
	return out, nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
