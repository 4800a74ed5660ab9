package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
)

// The SDK's PlaceOrderAndWait returns the order once the saga decided it — no polling loop in
// the caller — and says why when the order cannot be placed.
func TestPlaceOrderAndWait(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Waited", money.FromCents(250), 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := s.orders.PlaceOrderAndWait(ctx, orderclient.OrderInput{ProductId: p.Id, Qty: 2})
	require.NoError(t, err)
	assert.Equal(t, orderclient.OrderStatusCONFIRMED, o.Status)
	assert.Equal(t, money.FromCents(500), o.TotalPrice)
	assert.Equal(t, int32(1), s.stock(t, p.Id))

	_, err = s.orders.PlaceOrderAndWait(ctx, orderclient.OrderInput{ProductId: p.Id + 1000, Qty: 1})
	var pe *orderclient.ProblemError
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, http.StatusNotFound, pe.Status)
	assert.Equal(t, orderclient.ProblemCodePRODUCTNOTFOUND, pe.Problem.Code)

	short, stop := context.WithTimeout(context.Background(), time.Millisecond)
	defer stop()
	_, err = s.orders.PlaceOrderAndWait(short, orderclient.OrderInput{ProductId: p.Id, Qty: 1})
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline is kept")
}
