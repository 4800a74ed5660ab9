package pricing

import (
	"context"
	"fmt"
	"net/http"

	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/order-service/internal/ordering"
)

// ProductServiceLoader loads products through the generated product-service client.
func ProductServiceLoader(c *productclient.ClientWithResponses) Loader {
	return func(ctx context.Context, id int64) (Entry, error) {
		resp, err := c.GetProductWithResponse(ctx, id, &productclient.GetProductParams{})
		if err != nil {
			return Entry{}, fmt.Errorf("%w: get product %d: %v", ordering.ErrProductServiceUnavailable, id, err)
		}
		switch {
		case resp.StatusCode() == http.StatusOK && resp.JSON200 != nil:
			p := resp.JSON200
			return Entry{Product: ordering.Product{ID: p.Id, Price: p.Price, Qty: p.Qty}, UpdatedAt: p.UpdatedAt}, nil
		case resp.StatusCode() == http.StatusNotFound:
			return Entry{}, ordering.ErrProductNotFound
		default:
			return Entry{}, fmt.Errorf("%w: get product %d answered %d", ordering.ErrProductServiceUnavailable, id, resp.StatusCode())
		}
	}
}
