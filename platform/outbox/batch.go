package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/shopworks/shop/platform/amqpx"
)

// row is one claimed outbox row.
type row struct {
	id  int64
	msg amqpx.Message
}

// relayBatch claims up to BatchSize unsent rows, publishes them with confirms and marks them
// sent, in one transaction. It returns how many rows it published.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout+2*dbTimeout)
	defer cancel()
	// READ COMMITTED: no gap locks, so concurrent Add inserts never wait for this transaction.
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("outbox: begin relay transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit

	rows, err := claim(ctx, tx, r.opts.BatchSize)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	msgs := make([]amqpx.Message, len(rows))
	ids := make([]any, len(rows))
	for i, rw := range rows {
		msgs[i], ids[i] = rw.msg, rw.id
	}

	pctx, pcancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
	perr := r.pub.Publish(pctx, msgs)
	pcancel()
	if perr != nil {
		// Release the row locks first: the attempts update runs on another connection.
		_ = tx.Rollback()
		r.m.failures.Inc()
		if err := r.bumpAttempts(ctx, ids); err != nil {
			r.log.Warn("outbox relay: counting attempts", "err", err)
		}
		return 0, fmt.Errorf("outbox: publish %d event(s): %w", len(rows), perr)
	}

	mark := "UPDATE outbox SET sent_at = NOW(6) WHERE id IN (" + placeholders(len(ids)) + ")"
	if _, err := tx.ExecContext(ctx, mark, ids...); err != nil {
		return 0, fmt.Errorf("outbox: mark %d published event(s) sent (they will be published again): %w", len(ids), err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("outbox: commit %d published event(s) (they will be published again): %w", len(ids), err)
	}
	r.m.published.Add(float64(len(rows)))
	return len(rows), nil
}

// claim locks the oldest unsent rows that no other relay holds. SKIP LOCKED is what lets
// replicas work side by side without publishing the same row concurrently.
func claim(ctx context.Context, tx *sql.Tx, limit int) ([]row, error) {
	// The age is computed by the server so created_at's time zone never matters.
	const q = `SELECT id, event_id, routing_key, payload, correlation_id,
		TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6))
		FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`
	rs, err := tx.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim pending rows: %w", err)
	}
	defer func() { _ = rs.Close() }()
	now := time.Now()
	var out []row
	for rs.Next() {
		var (
			rw    row
			ageUS int64
		)
		if err := rs.Scan(&rw.id, &rw.msg.MessageID, &rw.msg.RoutingKey, &rw.msg.Body, &rw.msg.CorrelationID, &ageUS); err != nil {
			return nil, fmt.Errorf("outbox: scan pending row: %w", err)
		}
		rw.msg.Timestamp = now.Add(-time.Duration(ageUS) * time.Microsecond)
		out = append(out, rw)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("outbox: read pending rows: %w", err)
	}
	return out, nil
}

// bumpAttempts records a failed publish on the rows (observability only; rows are retried
// regardless of the count).
func (r *Relay) bumpAttempts(ctx context.Context, ids []any) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := "UPDATE outbox SET attempts = attempts + 1 WHERE sent_at IS NULL AND id IN (" + placeholders(len(ids)) + ")"
	if _, err := r.db.ExecContext(ctx, q, ids...); err != nil {
		return fmt.Errorf("outbox: increment attempts of %d row(s): %w", len(ids), err)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
