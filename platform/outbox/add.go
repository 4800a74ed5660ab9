package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/shopworks/shop/platform/tracing"
)

// Event is one outbox row to be published.
type Event struct {
	ID            string // UUID; becomes the AMQP message_id consumers deduplicate on
	RoutingKey    string // e.g. "order.created"
	Payload       []byte // JSON body
	CorrelationID string // request ID; longer than 128 bytes is truncated
	// Traceparent is the W3C trace context of the work that wrote the event; the relay publishes
	// it as the message's traceparent header, so the consumer's span joins that trace. Add takes
	// it from ctx when empty; anything that is not a version-00 traceparent is not stored.
	Traceparent string
}

// Column limits of TableDDL.
const (
	maxEventID       = 36
	maxRoutingKey    = 64
	maxCorrelationID = 128
	// rowsPerInsert keeps one statement far below MySQL's 65 535 placeholders (5 per row).
	rowsPerInsert = 1000
)

// Execer runs a statement inside the caller's transaction: a *sql.Tx, or a *dbx.Session that
// has started one.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Add inserts events into the outbox inside the caller's transaction: they are published if and
// only if tx commits. One multi-row INSERT per call (per 1000 events). Call Relay.Notify after the
// commit to publish without waiting for the next poll. Events without a Traceparent get ctx's.
func Add(ctx context.Context, tx Execer, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	if tx == nil {
		return errors.New("outbox: Add needs the caller's transaction, got nil")
	}
	traceparent := tracing.Traceparent(ctx)
	for start := 0; start < len(events); start += rowsPerInsert {
		chunk := events[start:min(start+rowsPerInsert, len(events))]
		q, args, err := insert(traceparent, chunk)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("outbox: insert %d event(s): %w", len(chunk), err)
		}
	}
	return nil
}

// Insert returns the multi-row INSERT of up to 1000 events, for callers that send it in one
// round trip together with other statements of their transaction (a multi-statement COMMIT).
func Insert(events ...Event) (query string, args []any, err error) {
	return insert("", events)
}

// insert is Insert with a traceparent for the events that have none.
func insert(traceparent string, events []Event) (query string, args []any, err error) {
	if len(events) == 0 || len(events) > rowsPerInsert {
		return "", nil, fmt.Errorf("outbox: Insert takes 1..%d events, got %d", rowsPerInsert, len(events))
	}
	for i, e := range events {
		if err := e.validate(); err != nil {
			return "", nil, fmt.Errorf("outbox: event %d: %w", i, err)
		}
	}
	var q strings.Builder
	q.WriteString("INSERT INTO outbox (event_id, routing_key, payload, correlation_id, traceparent) VALUES ")
	args = make([]any, 0, 5*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?)")
		tp := e.Traceparent
		if tp == "" {
			tp = traceparent
		}
		if !tracing.Storable(tp) {
			tp = "" // never a reason to fail the business transaction
		}
		// The request ID is already bounded to 128 chars upstream; cutting here just
		// guarantees a long one can never fail the business transaction.
		args = append(args, e.ID, e.RoutingKey, e.Payload, truncate(e.CorrelationID, maxCorrelationID), tp)
	}
	return q.String(), args, nil
}

func (e Event) validate() error {
	switch {
	case e.ID == "" || len(e.ID) > maxEventID:
		return fmt.Errorf("ID %q must be 1..%d characters (a UUID)", e.ID, maxEventID)
	case e.RoutingKey == "" || len(e.RoutingKey) > maxRoutingKey:
		return fmt.Errorf("routing key %q must be 1..%d characters", e.RoutingKey, maxRoutingKey)
	case len(e.Payload) == 0:
		return fmt.Errorf("event %s has an empty payload", e.ID)
	}
	return nil
}

// truncate cuts s to at most n bytes (request IDs are printable ASCII).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
