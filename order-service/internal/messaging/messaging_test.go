package messaging_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/platform/amqpx"
)

func TestDecodeStockResults(t *testing.T) {
	h := messaging.NewStockResults(nil, schemas(t), nil, nil, nil)
	token := uuid.New()
	sts, foreign, err := h.Decode("stock.results", results(result(5, token.String(), "RESERVED"), result(6, uuid.NewString(), "PRODUCT_NOT_FOUND"), result(7, "", "RESERVED")).Body)
	require.NoError(t, err)
	assert.Equal(t, 1, foreign, "the original's order")
	require.Len(t, sts, 2)
	assert.Equal(t, int64(5), sts[0].OrderID)
	assert.Equal(t, token, sts[0].Token)
	assert.True(t, sts[0].Reserved)
	assert.Equal(t, "PRODUCT_NOT_FOUND", sts[1].Reason)
}

func FuzzDecodeStockResults(f *testing.F) {
	f.Add([]byte(results(result(5, uuid.NewString(), "RESERVED")).Body))
	f.Add([]byte(`{"results":[{"orderId":5}]}`))
	f.Add([]byte(`null`))
	h := messaging.NewStockResults(nil, schemas(f), nil, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		sts, _, err := h.Decode("stock.results", body)
		if err != nil {
			if !amqpx.IsPermanent(err) {
				t.Fatalf("decode error is not permanent: %v", err)
			}
			return
		}
		for _, st := range sts {
			if st.OrderID < 1 || st.Qty < 1 || st.Token == uuid.Nil {
				t.Fatalf("accepted an invalid result %+v from %q", st, body)
			}
		}
	})
}
