package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/outbox"
)

func TestAddValidates(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, outbox.Add(ctx, nil), "no events is a no-op")
	require.Error(t, outbox.Add(ctx, nil, outbox.Event{ID: "a", RoutingKey: "k", Payload: []byte(`{}`)}))

	db := testDB(t)
	for name, e := range map[string]outbox.Event{
		"no id":          {RoutingKey: "k", Payload: []byte(`{}`)},
		"id too long":    {ID: strings.Repeat("x", 37), RoutingKey: "k", Payload: []byte(`{}`)},
		"no routing key": {ID: "a", Payload: []byte(`{}`)},
		"no payload":     {ID: "a", RoutingKey: "k"},
	} {
		t.Run(name, func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			require.Error(t, outbox.Add(ctx, tx, e))
		})
	}
}

func TestAddManyAndDuplicates(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	events := make([]outbox.Event, 1500) // more than one INSERT statement
	for i := range events {
		events[i] = outbox.Event{ID: fmt.Sprintf("e-%d", i), RoutingKey: "k", Payload: []byte(`{}`),
			CorrelationID: strings.Repeat("c", 200)}
	}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, outbox.Add(ctx, tx, events...))
	require.NoError(t, tx.Commit())
	var n, maxCorr int
	require.NoError(t, db.QueryRow("SELECT COUNT(*), MAX(LENGTH(correlation_id)) FROM outbox").Scan(&n, &maxCorr))
	assert.Equal(t, 1500, n)
	assert.Equal(t, 128, maxCorr, "long correlation IDs are cut to the column size")

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	require.Error(t, outbox.Add(ctx, tx, events[0]), "an event ID is unique")
}

func TestPruneRemovesOldSentRowsOnly(t *testing.T) {
	ctx := context.Background()
	db := testDB(t)
	_, err := db.ExecContext(ctx, `INSERT INTO outbox (event_id, routing_key, payload, created_at, sent_at) VALUES
		('old-1', 'k', '{}', NOW(6) - INTERVAL 3 HOUR, NOW(6) - INTERVAL 2 HOUR),
		('old-2', 'k', '{}', NOW(6) - INTERVAL 3 HOUR, NOW(6) - INTERVAL 90 MINUTE),
		('recent', 'k', '{}', NOW(6) - INTERVAL 3 HOUR, NOW(6) - INTERVAL 10 MINUTE),
		('unsent', 'k', '{}', NOW(6) - INTERVAL 3 HOUR, NULL)`)
	require.NoError(t, err)

	relay := outbox.NewRelay(db, nil, outbox.RelayOptions{Retention: time.Hour}, nil, nil)
	n, err := relay.Prune(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)

	var left []string
	rows, err := db.QueryContext(ctx, "SELECT event_id FROM outbox ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"recent", "unsent"}, left)
	assert.Equal(t, 1, backlog(t, relay))
}

func TestRunNeedsDBAndPublisher(t *testing.T) {
	require.Error(t, outbox.NewRelay(nil, nil, outbox.RelayOptions{}, nil, nil).Run(context.Background()))
}
