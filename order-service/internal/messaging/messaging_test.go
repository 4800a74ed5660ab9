package messaging_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/platform/amqpx"
)

func TestDecodeStockResult(t *testing.T) {
	r, err := messaging.DecodeStockResult("stock.reserved", []byte(`{"eventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","orderId":5,"productId":2,"qty":1,"reservedAt":"2026-11-25T10:00:00Z"}`))
	require.NoError(t, err)
	assert.Equal(t, messaging.StockResult{OrderID: 5, ProductID: 2, Reserved: true}, r)
	r, err = messaging.DecodeStockResult("stock.rejected", []byte(`{"orderId":6,"productId":2,"qty":1,"reason":"INSUFFICIENT_STOCK"}`))
	require.NoError(t, err)
	assert.Equal(t, "INSUFFICIENT_STOCK", r.Reason)
	for key, body := range map[string]string{"stock.reserved": `{}`, "stock.rejected": `not json`, "order.created": `{"orderId":1}`} {
		_, err := messaging.DecodeStockResult(key, []byte(body))
		assert.True(t, amqpx.IsPermanent(err), key)
	}
}

func FuzzDecodeStockResult(f *testing.F) {
	f.Add("stock.reserved", []byte(`{"orderId":5,"productId":2,"qty":1}`))
	f.Add("stock.rejected", []byte(`{"orderId":5,"reason":"PRODUCT_NOT_FOUND"}`))
	f.Add("x", []byte(`{}`))
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		r, err := messaging.DecodeStockResult(key, body)
		if err != nil {
			if !amqpx.IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		if r.OrderID < 1 {
			t.Fatalf("accepted order id %d", r.OrderID)
		}
	})
}
