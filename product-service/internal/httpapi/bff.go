package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/product-service/internal/httpapi/api"
)

const bffOrdersLimit = 100

// GetProductWithOrders fetches the product and its newest orders concurrently. A missing product
// is a 404; order-service down, slow or failing degrades the answer (orders: [], said in the body
// and the X-Orders-Degraded header) instead of failing it, as the original BFF did.
func (s *Server) GetProductWithOrders(ctx context.Context, req api.GetProductWithOrdersRequestObject) (api.GetProductWithOrdersResponseObject, error) {
	var (
		wg        sync.WaitGroup
		orders    []api.Order
		ordersErr error
	)
	octx, cancel := context.WithTimeout(ctx, s.d.OrdersTimeout)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		orders, ordersErr = s.fetchOrders(octx, req.Id)
	}()
	p, err := s.d.Catalog.GetProduct(ctx, req.Id)
	if err != nil {
		cancel()
		wg.Wait()
		return nil, err
	}
	wg.Wait()
	resp := api.GetProductWithOrders200JSONResponse{Body: api.ProductWithOrders{Product: toAPI(p), Orders: orders}}
	if ordersErr != nil {
		s.d.Log.WarnContext(ctx, "orders part of the BFF degraded", slog.Int64("productId", req.Id), slog.String("error", ordersErr.Error()))
		resp.Body.Orders = []api.Order{}
		resp.Body.OrdersDegraded = true
		resp.Headers.XOrdersDegraded = ptr("true")
	}
	return resp, nil
}

func (s *Server) fetchOrders(ctx context.Context, productID int64) ([]api.Order, error) {
	if s.d.Orders == nil {
		return nil, errors.New("no order-service client configured")
	}
	limit := int32(bffOrdersLimit)
	resp, err := s.d.Orders.ListOrdersByProductWithResponse(ctx, productID, &orderclient.ListOrdersByProductParams{Limit: &limit})
	if err != nil {
		return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		return nil, fmt.Errorf("list orders of product %d: order-service answered %d", productID, resp.StatusCode())
	}
	out := make([]api.Order, 0, len(*resp.JSON200))
	for _, o := range *resp.JSON200 {
		out = append(out, api.Order{
			Id: o.Id, ProductId: o.ProductId, Qty: o.Qty, UnitPrice: o.UnitPrice, TotalPrice: o.TotalPrice,
			Status: api.OrderStatus(o.Status), RejectReason: (*api.RejectReason)(o.RejectReason), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		})
	}
	return out, nil
}
