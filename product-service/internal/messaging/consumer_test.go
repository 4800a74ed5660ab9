package messaging_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/eventschema"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/messaging"
)

const (
	oursCreated     = `{"eventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","orderId":7,"productId":3,"qty":2,"unitPrice":10,"totalPrice":20,"status":"PENDING","createdAt":"2026-11-25T10:00:00Z"}`
	originalCreated = `{"orderId":7,"productId":3,"qty":2,"totalPrice":20,"createdAt":"2026-11-25T10:00:00Z"}`
	oursCancelled   = `{"eventId":"1b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","orderId":7,"orderEventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","productId":3,"qty":2,"reason":"CANCELLED_BY_CLIENT","cancelledAt":"2026-11-25T10:00:01Z"}`
)

func decoder(t testing.TB) *messaging.OrderEvents {
	v, err := eventschema.New()
	require.NoError(t, err)
	return messaging.NewOrderEvents(nil, v, nil)
}

func TestDecodeTellsOursFromTheOriginalsAndReadsCancellations(t *testing.T) {
	h := decoder(t)
	ours, err := h.Decode("order.created", []byte(oursCreated))
	require.NoError(t, err)
	assert.Equal(t, catalog.StockRequest{OrderID: 7, ProductID: 3, Qty: 2, OrderEventID: "0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10"}, ours)
	original, err := h.Decode("order.created", []byte(originalCreated))
	require.NoError(t, err)
	assert.Equal(t, catalog.StockRequest{OrderID: 7, ProductID: 3, Qty: 2}, original, "the original's payload has no event ID")
	assert.NotEqual(t, ours.Key(), original.Key())
	floatTotal, err := h.Decode("order.created", []byte(strings.Replace(originalCreated, `"qty":2,"totalPrice":20`, `"qty":3,"totalPrice":0.44999999999999996`, 1)))
	require.NoError(t, err, "the original's float total (0.15 × 3)")
	assert.Equal(t, catalog.StockRequest{OrderID: 7, ProductID: 3, Qty: 3}, floatTotal)
	cancel, err := h.Decode("order.cancelled", []byte(oursCancelled))
	require.NoError(t, err)
	assert.True(t, cancel.Release)
	assert.Equal(t, ours.Key(), cancel.Key(), "a cancellation names the order it cancels")
}

// Hostile and malformed messages are dead-lettered with the reason, before they touch anything.
func TestDecodeRefusesWhatTheSchemaRefuses(t *testing.T) {
	h := decoder(t)
	for name, tc := range map[string]struct{ key, body, reason string }{
		"empty":               {"order.created", ``, "empty"},
		"array":               {"order.created", `[]`, "object"},
		"no order id":         {"order.created", `{"productId":3,"qty":2,"totalPrice":20,"createdAt":"2026-11-25T10:00:00Z"}`, "orderId"},
		"zero qty":            {"order.created", strings.Replace(originalCreated, `"qty":2`, `"qty":0`, 1), "qty"},
		"qty too big":         {"order.created", strings.Replace(originalCreated, `"qty":2`, `"qty":10001`, 1), "qty"},
		"negative product":    {"order.created", strings.Replace(originalCreated, `"productId":3`, `"productId":-1`, 1), "productId"},
		"string id":           {"order.created", strings.Replace(originalCreated, `"orderId":7`, `"orderId":"7"`, 1), "orderId"},
		"negative total":      {"order.created", strings.Replace(originalCreated, `"totalPrice":20`, `"totalPrice":-20`, 1), "totalPrice"},
		"ours with a float":   {"order.created", strings.Replace(oursCreated, `"totalPrice":20`, `"totalPrice":20.000000000000004`, 1), "two decimals"},
		"float and extra":     {"order.created", strings.Replace(originalCreated, `"totalPrice":20`, `"totalPrice":0.44999999999999996,"status":"PENDING","x":1`, 1), "two decimals"},
		"trailing data":       {"order.created", originalCreated + `{}`, ""},
		"NUL in a string":     {"order.created", strings.Replace(oursCreated, `"PENDING"`, `"PEND\u0000ING"`, 1), ""},
		"bad event id":        {"order.created", strings.Replace(oursCreated, `0b6f1d5e`, `zzzz`, 1), "eventId"},
		"unknown reason":      {"order.cancelled", strings.Replace(oursCancelled, `CANCELLED_BY_CLIENT`, `BECAUSE`, 1), "reason"},
		"unknown field":       {"order.cancelled", strings.Replace(oursCancelled, `"qty":2`, `"qty":2,"extra":1`, 1), "extra"},
		"cancel without qty":  {"order.cancelled", strings.Replace(oursCancelled, `"qty":2,`, ``, 1), "qty"},
		"unexpected key":      {"stock.results", `{}`, "routing key"},
		"duplicate member":    {"order.created", strings.Replace(originalCreated, `"qty":2`, `"qty":2,"qty":9`, 1), ""},
		"huge number":         {"order.created", strings.Replace(originalCreated, `"orderId":7`, `"orderId":1e400`, 1), ""},
		"not even JSON":       {"order.cancelled", `<xml/>`, ""},
		"cancel of a NUL key": {"order.cancelled", strings.Replace(oursCancelled, `"orderEventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10"`, `"orderEventId":"\u0000"`, 1), ""},
	} {
		_, err := h.Decode(tc.key, []byte(tc.body))
		require.Error(t, err, name)
		assert.True(t, amqpx.IsPermanent(err), "%s: straight to the DLQ: %v", name, err)
		assert.Contains(t, err.Error(), tc.reason, name)
	}
}

func FuzzDecodeOrderEvent(f *testing.F) {
	f.Add("order.created", []byte(originalCreated))
	f.Add("order.created", []byte(oursCreated))
	f.Add("order.cancelled", []byte(oursCancelled))
	f.Add("order.created", []byte(`{"orderId":1e3,"productId":1,"qty":1}`))
	f.Add("order.created", []byte(`null`))
	h := decoder(f)
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		req, err := h.Decode(key, body)
		if err != nil {
			if !amqpx.IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		if req.Validate() != nil {
			t.Fatalf("accepted an invalid request %+v from %q", req, body)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}
