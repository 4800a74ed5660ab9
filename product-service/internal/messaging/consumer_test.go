package messaging_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/product-service/internal/messaging"
)

func TestDecodeOrderCreatedAcceptsBothPayloads(t *testing.T) {
	ours := `{"eventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","orderId":7,"productId":3,"qty":2,"unitPrice":10,"totalPrice":20,"status":"PENDING","createdAt":"2026-11-25T10:00:00Z"}`
	original := `{"orderId":7,"productId":3,"qty":2,"totalPrice":20,"createdAt":"2026-11-25T10:00:00Z"}`
	for _, body := range []string{ours, original} {
		req, err := messaging.DecodeOrderCreated([]byte(body))
		require.NoError(t, err)
		assert.Equal(t, int64(7), req.OrderID)
		assert.Equal(t, int64(3), req.ProductID)
		assert.Equal(t, int32(2), req.Qty)
	}
	for _, bad := range []string{``, `[]`, `{"productId":3,"qty":2}`, `{"orderId":7,"productId":3,"qty":0}`, `{"orderId":"7","productId":3,"qty":1}`, `{"orderId":7,"productId":-1,"qty":1}`} {
		_, err := messaging.DecodeOrderCreated([]byte(bad))
		assert.True(t, amqpx.IsPermanent(err), "%q must go straight to the DLQ: %v", bad, err)
	}
}

// FuzzDecodeOrderCreated: no input panics; whatever is accepted is a valid reservation, and
// whatever is refused is refused permanently (dead-lettered, never retried forever).
func FuzzDecodeOrderCreated(f *testing.F) {
	f.Add([]byte(`{"orderId":7,"productId":3,"qty":2,"totalPrice":20,"createdAt":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"orderId":1e3,"productId":1,"qty":1}`))
	f.Add([]byte(`{"orderId":7,"productId":3,"qty":2147483648}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := messaging.DecodeOrderCreated(body)
		if err != nil {
			if !amqpx.IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		if req.OrderID < 1 || req.ProductID < 1 || req.Qty < 1 {
			t.Fatalf("accepted an invalid request %+v from %q", req, body)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}
