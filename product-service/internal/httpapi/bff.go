package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/product-service/internal/httpapi/api"
)

const bffOrdersLimit = 100

// The maxima of Money and TotalMoney (api/common.yaml), in cents.
const (
	maxUnitCents  = 999_999_999_999
	maxTotalCents = 9_999_999_999_990_000
)

// GetProductWithOrders fetches the product and its newest orders concurrently. A missing product
// is a 404; order-service down, slow or failing degrades the answer (orders: [], said in the body
// and the X-Orders-Degraded header) instead of failing it, as the original BFF did.
func (s *Server) GetProductWithOrders(ctx context.Context, req api.GetProductWithOrdersRequestObject) (api.GetProductWithOrdersResponseObject, error) {
	var (
		wg        sync.WaitGroup
		orders    []api.ReportedOrder
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
		resp.Body.Orders = []api.ReportedOrder{}
		resp.Body.OrdersDegraded = true
		resp.Headers.XOrdersDegraded = ptr("true")
	}
	return resp, nil
}

// fetchOrders reads the first page of the product's orders from order-service. The list is read
// here, not through the generated client's typed response: that one decodes into orderclient.Order,
// whose required fields turn a field the upstream did not send into a zero, and the original
// order-service sends no unitPrice. Its list is also unbounded, so at most bffOrdersLimit orders
// are read from the stream.
func (s *Server) fetchOrders(ctx context.Context, productID int64) ([]api.ReportedOrder, error) {
	if s.d.Orders == nil {
		return nil, errors.New("no order-service client configured")
	}
	limit := int32(bffOrdersLimit)
	resp, err := s.d.Orders.ListOrdersByProduct(ctx, productID, &orderclient.ListOrdersByProductParams{Limit: &limit})
	if err != nil {
		return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list orders of product %d: order-service answered %d", productID, resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	switch tok, err := dec.Token(); {
	case err != nil:
		return nil, fmt.Errorf("list orders of product %d: %w", productID, err)
	case tok == nil: // null: the original order-service's empty list
		return []api.ReportedOrder{}, nil
	case tok != json.Delim('['):
		return nil, fmt.Errorf("list orders of product %d: not a JSON array", productID)
	}
	out := make([]api.ReportedOrder, 0, 16)
	for len(out) < bffOrdersLimit && dec.More() {
		var u reportedOrder
		if err := dec.Decode(&u); err != nil {
			return nil, fmt.Errorf("list orders of product %d: order %d: %w", productID, len(out)+1, err)
		}
		o, err := u.toAPI()
		if err != nil {
			return nil, fmt.Errorf("list orders of product %d: order %d: %w", productID, len(out)+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// reportedOrder is one order of order-service's list as it was sent: a field it did not send
// stays nil (or zero where the schema's range excludes zero), so that the BFF can leave it out.
type reportedOrder struct {
	ID           int64           `json:"id"`
	ProductID    int64           `json:"productId"`
	Qty          int32           `json:"qty"`
	UnitPrice    json.RawMessage `json:"unitPrice"`
	TotalPrice   json.RawMessage `json:"totalPrice"`
	Status       string          `json:"status"`
	RejectReason *string         `json:"rejectReason"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    *time.Time      `json:"updatedAt"`
}

// toAPI checks the order against the BFF's ReportedOrder schema and converts it.
func (u reportedOrder) toAPI() (api.ReportedOrder, error) {
	o := api.ReportedOrder{Id: u.ID, ProductId: u.ProductID, Qty: u.Qty, Status: api.ReportedOrderStatus(u.Status),
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	switch {
	case u.ID < 1:
		return o, errors.New("no id")
	case u.ProductID < 1:
		return o, errors.New("no productId")
	case u.Qty < 1 || u.Qty > 10000:
		return o, fmt.Errorf("qty %d out of range", u.Qty)
	case !o.Status.Valid():
		return o, fmt.Errorf("unknown status %q", u.Status)
	case u.CreatedAt.IsZero():
		return o, errors.New("no createdAt")
	}
	total, err := amountOf(u.TotalPrice)
	if err != nil || total.Cents() < 1 || total.Cents() > maxTotalCents {
		return o, fmt.Errorf("totalPrice %s: not an amount of money", u.TotalPrice)
	}
	o.TotalPrice = total
	if len(u.UnitPrice) > 0 && !bytes.Equal(u.UnitPrice, []byte("null")) {
		unit, err := amountOf(u.UnitPrice)
		if err != nil || unit.Cents() < 1 || unit.Cents() > maxUnitCents {
			return o, fmt.Errorf("unitPrice %s: not an amount of money", u.UnitPrice)
		}
		o.UnitPrice = &unit
	}
	if u.RejectReason != nil {
		r := api.RejectReason(*u.RejectReason)
		if !r.Valid() {
			return o, fmt.Errorf("unknown rejectReason %q", *u.RejectReason)
		}
		o.RejectReason = &r
	}
	return o, nil
}

// amountOf reads a JSON number as money: exactly when it has at most two decimals, and otherwise
// as the floating-point total of the original order-service (0.44999999999999996 is 0.45), which
// is the nearest cent when the number lies within float64 rounding of one.
func amountOf(raw json.RawMessage) (money.Amount, error) {
	s := string(raw)
	if a, err := money.Parse(s); err == nil {
		return a, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	cents := math.Round(f * 100)
	if math.Abs(f*100-cents) > 1e-9*math.Max(1, math.Abs(cents)) || math.Abs(cents) > maxTotalCents {
		return 0, money.ErrInvalid
	}
	return money.FromCents(int64(cents)), nil
}
