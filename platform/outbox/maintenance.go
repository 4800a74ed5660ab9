package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	// pruneBatch and pruneRounds bound one prune: small deletes keep lock times and replication
	// events short, and a huge backlog of old rows is worked off over several intervals.
	pruneBatch  = 1000
	pruneRounds = 20
)

// Backlog returns the number of unsent rows.
func (r *Relay) Backlog(ctx context.Context) (int, error) {
	n, _, err := r.pending(ctx)
	return n, err
}

// pending returns the unsent row count and the age of the oldest unsent row. Two queries,
// because each is then served by ix_outbox_pending alone (an index-only count, and the first
// entry in id order, which is also the oldest), where MIN(created_at) would scan the table.
func (r *Relay) pending(ctx context.Context) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var n int
	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").Scan(&n); err != nil {
		return 0, 0, fmt.Errorf("outbox: count pending rows: %w", err)
	}
	var ageUS int64
	err := r.db.QueryRowContext(ctx, `SELECT TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6))
		FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1`).Scan(&ageUS)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("outbox: age of the oldest pending row: %w", err)
	}
	return n, time.Duration(ageUS) * time.Microsecond, nil
}

func (r *Relay) refreshGauges(ctx context.Context) {
	n, age, err := r.pending(ctx)
	if err != nil {
		r.log.Warn("outbox relay: backlog gauges", "err", err)
		return
	}
	r.m.backlog.Set(float64(n))
	r.m.oldestAge.Set(age.Seconds())
}

// Prune deletes rows sent more than Retention ago, in bounded rounds, and returns how many.
// Run calls it every PruneInterval; it is exported for tests and maintenance commands.
func (r *Relay) Prune(ctx context.Context) (int64, error) {
	var total int64
	for range pruneRounds {
		n, err := r.pruneOnce(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < pruneBatch {
			break
		}
	}
	return total, nil
}

func (r *Relay) pruneOnce(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	// ORDER BY makes the bounded DELETE deterministic (statement-based replication) and
	// walks ix_outbox_pending.
	res, err := r.db.ExecContext(ctx, `DELETE FROM outbox
		WHERE sent_at IS NOT NULL AND sent_at < NOW(6) - INTERVAL ? MICROSECOND
		ORDER BY sent_at, id LIMIT ?`, r.opts.Retention.Microseconds(), pruneBatch)
	if err != nil {
		return 0, fmt.Errorf("outbox: prune sent rows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("outbox: prune sent rows: %w", err)
	}
	return n, nil
}

func (r *Relay) pruneLogged(ctx context.Context) {
	n, err := r.Prune(ctx)
	if err != nil {
		r.log.Warn("outbox relay: prune", "err", err, "deleted", n)
		return
	}
	if n > 0 {
		r.log.Debug("outbox relay: pruned sent rows", "deleted", n)
	}
}
