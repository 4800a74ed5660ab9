package ordering_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/ordering"
)

func TestPriceIsExact(t *testing.T) {
	o, err := ordering.Price(ordering.Request{ProductID: 1, Qty: 3}, ordering.Product{ID: 1, Price: money.FromCents(1999), Qty: 10})
	require.NoError(t, err)
	assert.Equal(t, "59.97", o.TotalPrice.String())
	assert.Equal(t, ordering.Pending, o.Status)
}

func TestPriceRefusesWhatTheKnownStockCannotCover(t *testing.T) {
	_, err := ordering.Price(ordering.Request{ProductID: 1, Qty: 3}, ordering.Product{ID: 1, Price: 100, Qty: 2})
	var ise *ordering.InsufficientStockError
	require.ErrorAs(t, err, &ise)
	assert.Equal(t, int32(2), ise.Available)
	assert.Contains(t, err.Error(), "2 in stock")
	_, err = ordering.Price(ordering.Request{ProductID: 1, Qty: 0}, ordering.Product{ID: 1, Price: 100, Qty: 2})
	assert.Error(t, err)
	_, err = ordering.Price(ordering.Request{ProductID: 1, Qty: 2}, ordering.Product{ID: 1, Price: money.FromCents(1 << 62), Qty: 2})
	assert.Error(t, err, "overflow is refused")
}

func TestSettleOnlyMovesPendingOrders(t *testing.T) {
	tests := []struct {
		cur      ordering.Status
		reserved bool
		want     ordering.Status
		ok       bool
	}{
		{ordering.Pending, true, ordering.Confirmed, true},
		{ordering.Pending, false, ordering.Rejected, true},
		{ordering.Confirmed, false, ordering.Confirmed, false},
		{ordering.Rejected, true, ordering.Rejected, false},
	}
	for _, tc := range tests {
		got, ok := ordering.Settle(tc.cur, tc.reserved)
		assert.Equal(t, tc.want, got)
		assert.Equal(t, tc.ok, ok)
	}
}

func TestFingerprintDependsOnTheBody(t *testing.T) {
	a := ordering.Request{ProductID: 1, Qty: 2}.Fingerprint()
	assert.Equal(t, a, ordering.Request{ProductID: 1, Qty: 2}.Fingerprint())
	assert.NotEqual(t, a, ordering.Request{ProductID: 1, Qty: 3}.Fingerprint())
	assert.NotEqual(t, a, ordering.Request{ProductID: 12, Qty: 2}.Fingerprint())
}

func TestCancelRules(t *testing.T) {
	for _, tc := range []struct {
		cur     ordering.Status
		want    ordering.Status
		changed bool
		err     error
	}{
		{ordering.Pending, ordering.Cancelled, true, nil},
		{ordering.Confirmed, ordering.Cancelled, true, nil},
		{ordering.Cancelled, ordering.Cancelled, false, nil},
		{ordering.Rejected, ordering.Rejected, false, ordering.ErrNotCancellable},
	} {
		got, changed, err := ordering.Cancel(tc.cur)
		assert.Equal(t, tc.want, got, tc.cur)
		assert.Equal(t, tc.changed, changed, tc.cur)
		assert.ErrorIs(t, err, tc.err, tc.cur)
	}
	assert.False(t, ordering.Pending.Final())
	assert.True(t, ordering.Cancelled.Final())
}
