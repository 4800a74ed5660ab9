package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Backlog returns the number of unpublished rows.
func (r *Relay) Backlog(ctx context.Context) (int, error) {
	n, _, err := r.pending(ctx)
	return n, err
}

// pending returns the row count and the age of the oldest row (every row is unpublished: the
// relay deletes what it published). Two queries, each served by the primary key: the count, and
// the first row in id order, which is also the oldest.
func (r *Relay) pending(ctx context.Context) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var n int
	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox").Scan(&n); err != nil {
		return 0, 0, fmt.Errorf("outbox: count pending rows: %w", err)
	}
	var ageUS int64
	err := r.db.QueryRowContext(ctx, `SELECT TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6))
		FROM outbox ORDER BY id LIMIT 1`).Scan(&ageUS)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("outbox: age of the oldest pending row: %w", err)
	}
	return n, time.Duration(ageUS) * time.Microsecond, nil
}

func (r *Relay) refreshGauges(ctx context.Context) {
	n, age, err := r.pending(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "outbox relay: backlog gauges", "error", err)
		return
	}
	r.m.backlog.Set(float64(n))
	r.m.oldestAge.Set(age.Seconds())
}
