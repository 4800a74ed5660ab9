package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
}

func TestRunNeedsDBAndPublisher(t *testing.T) {
	require.Error(t, outbox.NewRelay(nil, nil, outbox.RelayOptions{}, nil, nil).Run(context.Background()))
}
