package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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

func TestDecide(t *testing.T) {
	assert.Equal(t, catalog.Reserved, catalog.Decide(true, true))
	assert.Equal(t, catalog.InsufficientStock, catalog.Decide(false, true))
	assert.Equal(t, catalog.ProductMissing, catalog.Decide(false, false))
}

func TestReservationRequestValidate(t *testing.T) {
	assert.NoError(t, catalog.ReservationRequest{OrderID: 1, ProductID: 2, Qty: 3}.Validate())
	err := catalog.ReservationRequest{OrderID: 0, ProductID: 0, Qty: 0}.Validate()
	var ve *catalog.ValidationError
	assert.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, 3)
}

func TestDecideBatchTakesStockInOrder(t *testing.T) {
	stock := map[int64]int32{1: 3, 2: 0}
	got := catalog.DecideBatch([]catalog.ReservationRequest{
		{OrderID: 1, ProductID: 1, Qty: 2}, {OrderID: 2, ProductID: 1, Qty: 2}, {OrderID: 3, ProductID: 1, Qty: 1},
		{OrderID: 4, ProductID: 2, Qty: 1}, {OrderID: 5, ProductID: 9, Qty: 1},
	}, stock)
	assert.Equal(t, []catalog.Outcome{catalog.Reserved, catalog.InsufficientStock, catalog.Reserved, catalog.InsufficientStock, catalog.ProductMissing}, got)
	assert.Equal(t, int32(0), stock[1])
}
