package outbox

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/dbx"
)

// relayBatch claims up to BatchSize rows, publishes them with confirms and deletes them, in one
// transaction and two round trips: the claim (READ COMMITTED, so no gap locks hold up the
// services' inserts), then the delete with the COMMIT. It returns how many rows it published.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout+2*dbTimeout)
	defer cancel()
	var msgs []amqpx.Message
	var ids []any
	var perr error
	err := dbx.WithSession(ctx, r.db, func(s *dbx.Session) error {
		now := time.Now()
		// The age is computed by the server so created_at's time zone never matters.
		err := s.Query(ctx, `SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
			START TRANSACTION;
			SELECT id, event_id, routing_key, payload, correlation_id, traceparent, TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6))
			FROM outbox ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`, []any{r.opts.BatchSize},
			func(_ int, vals []driver.Value) error {
				var m amqpx.Message
				var id, ageUS int64
				var body string
				if err := dbx.Scan(vals, &id, &m.MessageID, &m.RoutingKey, &body, &m.CorrelationID, &m.Traceparent, &ageUS); err != nil {
					return fmt.Errorf("outbox: scan claimed row: %w", err)
				}
				m.Body = []byte(body)
				m.Timestamp = now.Add(-time.Duration(ageUS) * time.Microsecond)
				msgs, ids = append(msgs, m), append(ids, id)
				return nil
			})
		if err != nil {
			return fmt.Errorf("outbox: claim pending rows: %w", err)
		}
		if len(msgs) == 0 {
			_, err := s.Exec(ctx, "COMMIT")
			return err
		}
		if r.tracer != nil {
			var end func(error)
			ctx, end = r.traceBatch(ctx, msgs)
			defer func() { end(perr) }()
		}
		pctx, pcancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
		perr = r.pub.Publish(pctx, msgs)
		pcancel()
		if perr != nil {
			// The rows stay for the next attempt; the count of failed attempts is kept for
			// operators (observability only: rows are retried regardless).
			_, err := s.Exec(ctx, "ROLLBACK;\nUPDATE outbox SET attempts = attempts + 1 WHERE id IN ("+placeholders(len(ids))+")", ids...)
			return err
		}
		// The rows are deleted through their ids joined first (STRAIGHT_JOIN): a primary-key
		// lookup per row, which locks that row only. An IN list — or a join the optimizer drives
		// from the table — becomes a range or a scan that waits on rows another relay has
		// claimed while that relay may be waiting on ours: a deadlock, then a republished batch.
		// (One DELETE per id would do too, at twice the database's CPU.)
		del := "DELETE o FROM (SELECT ? AS id" + strings.Repeat(" UNION ALL SELECT ?", len(ids)-1) + ") claimed STRAIGHT_JOIN outbox o ON o.id = claimed.id;\nCOMMIT"
		if _, err := s.Exec(ctx, del, ids...); err != nil {
			return fmt.Errorf("outbox: delete %d published event(s) (they will be published again): %w", len(ids), err)
		}
		return nil
	})
	if perr != nil {
		r.m.failures.Inc()
		return 0, errors.Join(fmt.Errorf("outbox: publish %d event(s): %w", len(msgs), perr), err)
	}
	if err != nil {
		return 0, err
	}
	r.m.published.Add(float64(len(msgs)))
	return len(msgs), nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
