package catalog_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/product-service/internal/catalog"
)

func TestInputValidateReportsEveryBrokenRule(t *testing.T) {
	tests := []struct {
		name   string
		in     catalog.Input
		fields []string
	}{
		{"valid", catalog.Input{Name: "A", Price: 1, Qty: 0}, nil},
		{"blank name", catalog.Input{Name: "  ", Price: 1}, []string{"name"}},
		{"long name", catalog.Input{Name: string(make([]rune, 201)), Price: 1}, []string{"name"}},
		{"everything wrong", catalog.Input{Name: "", Price: 0, Qty: -1}, []string{"name", "price", "qty"}},
		{"negative price", catalog.Input{Name: "A", Price: -100, Qty: 1}, []string{"price"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.fields == nil {
				assert.NoError(t, err)
				return
			}
			var ve *catalog.ValidationError
			if assert.ErrorAs(t, err, &ve) {
				var got []string
				for _, f := range ve.Fields {
					got = append(got, f.Field)
				}
				assert.Equal(t, tc.fields, got)
				assert.Contains(t, ve.Error(), tc.fields[0])
			}
		})
	}
}

func TestApplyChangesOnlyGivenFields(t *testing.T) {
	p := catalog.Product{ID: 1, Name: "A", Price: money.FromCents(100), Qty: 5}
	name := "B"
	qty := int32(0)
	assert.Equal(t, catalog.Input{Name: "B", Price: 100, Qty: 0}, p.Apply(catalog.Patch{Name: &name, Qty: &qty}))
	price := money.FromCents(7)
	assert.Equal(t, catalog.Input{Name: "A", Price: 7, Qty: 5}, p.Apply(catalog.Patch{Price: &price}))
	assert.True(t, catalog.Patch{}.Empty())
	assert.False(t, catalog.Patch{Qty: &qty}.Empty())
}

func TestStockRequestValidate(t *testing.T) {
	assert.NoError(t, catalog.StockRequest{OrderID: 1, ProductID: 2, Qty: 3}.Validate())
	err := catalog.StockRequest{OrderID: 0, ProductID: 0, Qty: 0}.Validate()
	var ve *catalog.ValidationError
	assert.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, 3)
	require.Error(t, catalog.StockRequest{OrderID: 1, ProductID: 1, Qty: 10001}.Validate())
	require.NoError(t, catalog.StockRequest{OrderID: 1, ProductID: 1, Qty: 10000}.Validate())
}

func TestStockRequestKeysKeepTheTwoSystemsApart(t *testing.T) {
	ours := catalog.StockRequest{OrderID: 3, OrderEventID: "0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10"}
	original := catalog.StockRequest{OrderID: 3}
	assert.NotEqual(t, ours.Key(), original.Key(), "our order 3 and the original's order 3 are different orders")
	assert.Equal(t, "o:3", original.Key())
}

func TestDecideStockInArrivalOrderNeverNegativeAndOncePerOrder(t *testing.T) {
	reserve := func(order, product int64, qty int32) catalog.StockRequest {
		return catalog.StockRequest{OrderID: order, ProductID: product, Qty: qty, OrderEventID: fmt.Sprint("ev-", order)}
	}
	release := func(order, product int64, qty int32) catalog.StockRequest {
		r := reserve(order, product, qty)
		r.Release = true
		return r
	}
	records := map[string]catalog.Record{
		"e:ev-1": {Outcome: catalog.Reserved, ProductID: 1, Qty: 2},          // reserved earlier
		"e:ev-2": {Outcome: catalog.InsufficientStock, ProductID: 1, Qty: 9}, // rejected earlier
	}
	stock := map[int64]int32{1: 3, 2: 1}
	d := catalog.DecideStock([]catalog.StockRequest{
		reserve(1, 1, 2), // a redelivery
		release(1, 1, 2), // a client cancelled order 1: 2 come back
		release(1, 1, 2), // cancelled twice
		reserve(3, 1, 5), // 5 of 5
		reserve(4, 1, 1), // nothing left
		reserve(5, 7, 1), // no product 7
		release(2, 1, 9), // rejected: nothing to give back
		release(6, 2, 1), // a cancellation before its reservation…
		reserve(6, 2, 1), // …keeps it from taking stock
		reserve(7, 2, 1),
		release(7, 2, 1), // reserved and cancelled within the batch
	}, records, stock)
	var got []catalog.Outcome
	for _, r := range d.Results {
		got = append(got, r.Outcome)
	}
	assert.Equal(t, []catalog.Outcome{
		catalog.AlreadyProcessed, catalog.Released, catalog.NothingToRelease, catalog.Reserved, catalog.InsufficientStock,
		catalog.ProductMissing, catalog.NothingToRelease, catalog.CancelledFirst, catalog.AlreadyProcessed, catalog.Reserved, catalog.Released,
	}, got)
	assert.Equal(t, map[int64]int32{1: 0, 2: 1}, stock, "initial stock = stock + what stays reserved")
	assert.Equal(t, []int64{1, 2}, d.Changed)
	assert.Equal(t, []string{"e:ev-1"}, d.Released, "the earlier record is updated")
	assert.Equal(t, map[string]catalog.Record{
		"e:ev-3": {Outcome: catalog.Reserved, ProductID: 1, Qty: 5},
		"e:ev-4": {Outcome: catalog.InsufficientStock, ProductID: 1, Qty: 1},
		"e:ev-5": {Outcome: catalog.ProductMissing, ProductID: 7, Qty: 1},
		"e:ev-6": {Outcome: catalog.CancelledFirst, ProductID: 2, Qty: 1},
		"e:ev-7": {Outcome: catalog.Released, ProductID: 2, Qty: 1},
	}, d.New)
	for _, o := range got {
		assert.Equal(t, o == catalog.Reserved || o == catalog.InsufficientStock || o == catalog.ProductMissing, o.Answers(), o)
	}
}

func TestACancellationThatDoesNotMatchTheReservationGivesNothingBack(t *testing.T) {
	records := map[string]catalog.Record{"o:9": {Outcome: catalog.Reserved, ProductID: 4, Qty: 3}}
	stock := map[int64]int32{4: 1, 5: 1}
	d := catalog.DecideStock([]catalog.StockRequest{
		{Release: true, OrderID: 9, ProductID: 5, Qty: 3},
		{Release: true, OrderID: 9, ProductID: 4, Qty: 30},
	}, records, stock)
	assert.Equal(t, catalog.NothingToRelease, d.Results[0].Outcome)
	assert.Equal(t, catalog.NothingToRelease, d.Results[1].Outcome)
	assert.Equal(t, map[int64]int32{4: 1, 5: 1}, stock)
}

func TestAReleaseOfADeletedProductGivesNothingBack(t *testing.T) {
	records := map[string]catalog.Record{"o:9": {Outcome: catalog.Reserved, ProductID: 4, Qty: 3}}
	stock := map[int64]int32{}
	d := catalog.DecideStock([]catalog.StockRequest{{Release: true, OrderID: 9, ProductID: 4, Qty: 3}}, records, stock)
	assert.Equal(t, catalog.Released, d.Results[0].Outcome)
	assert.Empty(t, stock)
	assert.Empty(t, d.Changed)
}
