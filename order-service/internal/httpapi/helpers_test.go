package httpapi_test

import (
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/ordering"
)

func pricingProduct(id int64, cents int64, qty int32) ordering.Product {
	return ordering.Product{ID: id, Price: money.FromCents(cents), Qty: qty}
}
