package outbox_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/outbox"
)

func TestInsertBuildsOneMultiRowStatement(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	q, args, err := outbox.Insert(
		outbox.Event{ID: "a", RoutingKey: "k", Payload: []byte(`{}`), CorrelationID: "r1"},
		outbox.Event{ID: "b", RoutingKey: "k", Payload: []byte(`{"x":1}`), Traceparent: tp},
	)
	require.NoError(t, err)
	assert.Equal(t, "INSERT INTO outbox (event_id, routing_key, payload, correlation_id, traceparent) VALUES (?,?,?,?,?),(?,?,?,?,?)", q)
	assert.Equal(t, []any{"a", "k", []byte(`{}`), "r1", "", "b", "k", []byte(`{"x":1}`), "", tp}, args)
}

func TestInsertRejectsWhatAddWould(t *testing.T) {
	_, _, err := outbox.Insert()
	require.Error(t, err, "no events")
	_, _, err = outbox.Insert(outbox.Event{ID: "a", RoutingKey: "k"})
	require.ErrorContains(t, err, "empty payload")
	many := make([]outbox.Event, 1001)
	for i := range many {
		many[i] = outbox.Event{ID: strconv.Itoa(i), RoutingKey: "k", Payload: []byte(`{}`)}
	}
	_, _, err = outbox.Insert(many...)
	require.ErrorContains(t, err, "1..1000")
}
