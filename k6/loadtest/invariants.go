package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
)

// Shop is the pair of services a run talks to, through the generated clients.
type Shop struct {
	ProductsURL, OrdersURL string
	Products               *productclient.ClientWithResponses
	Orders                 *orderclient.ClientWithResponses
}

// NewShop builds the clients.
func NewShop(productsURL, ordersURL string) (*Shop, error) {
	p, err := productclient.New(productsURL, productclient.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	o, err := orderclient.New(ordersURL, orderclient.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	return &Shop{ProductsURL: strings.TrimRight(productsURL, "/"), OrdersURL: strings.TrimRight(ordersURL, "/"), Products: p, Orders: o}, nil
}

// SetupRequests is how many requests Setup makes; they precede the measured run.
const SetupRequests = 3

// Setup is the original script's setup: create a product (price 1000, the given stock), read it
// back, and place one order. It returns the product id and the setup order's id.
func (s *Shop) Setup(ctx context.Context, stock int32) (int64, int64, error) {
	cp, err := s.Products.CreateProductWithResponse(ctx, &productclient.CreateProductParams{},
		productclient.ProductInput{Name: "k6 load " + time.Now().UTC().Format(time.RFC3339), Price: money.FromCents(100000), Qty: stock})
	if err != nil {
		return 0, 0, fmt.Errorf("setup: create product: %w", err)
	}
	if cp.JSON201 == nil {
		return 0, 0, fmt.Errorf("setup: create product answered %d: %s", cp.StatusCode(), cp.Body)
	}
	id := cp.JSON201.Id
	if gp, err := s.Products.GetProductWithResponse(ctx, id, &productclient.GetProductParams{}); err != nil || gp.JSON200 == nil {
		return 0, 0, fmt.Errorf("setup: get product %d: %v", id, err)
	}
	co, err := s.Orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: id, Qty: 1})
	if err != nil {
		return 0, 0, fmt.Errorf("setup: first order: %w", err)
	}
	if co.JSON201 == nil {
		return 0, 0, fmt.Errorf("setup: first order answered %d: %s", co.StatusCode(), co.Body)
	}
	return id, co.JSON201.Id, nil
}

// Verdict is what the invariant check found.
type Verdict struct {
	Orders     int
	Confirmed  int
	Rejected   int
	Cancelled  int
	Pending    int
	StockNow   int32
	StockRead  bool // the stock is read only once every order is final
	Σconfirmed int64
	Waited     time.Duration
}

func (v Verdict) String() string {
	stock := fmt.Sprintf("stock %d + Σ confirmed qty %d", v.StockNow, v.Σconfirmed)
	if !v.StockRead {
		stock = fmt.Sprintf("stock not checked (orders not final), Σ confirmed qty %d", v.Σconfirmed)
	}
	return fmt.Sprintf("%d orders: %d CONFIRMED, %d REJECTED, %d CANCELLED, %d PENDING; %s; settled after %s",
		v.Orders, v.Confirmed, v.Rejected, v.Cancelled, v.Pending, stock, v.Waited.Round(10*time.Millisecond))
}

// Verify checks, through the public APIs, that every accepted order exists exactly once, that
// within settle every order of the product is CONFIRMED, REJECTED or CANCELLED, and that
// initial stock = stock + Σ qty of CONFIRMED orders (a cancelled order's stock came back).
func (s *Shop) Verify(ctx context.Context, productID int64, initialStock int32, accepted []int64, settle time.Duration) (Verdict, error) {
	start := time.Now()
	for {
		attempt := time.Now()
		v, err := s.verifyOnce(ctx, productID, initialStock, accepted)
		// Settled: the check that began then found every order final (listing them takes a while).
		v.Waited = attempt.Sub(start)
		if err != nil {
			v.Waited = time.Since(start)
		}
		if err == nil || time.Since(start) > settle || ctx.Err() != nil {
			return v, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *Shop) verifyOnce(ctx context.Context, productID int64, initialStock int32, accepted []int64) (Verdict, error) {
	var v Verdict
	seen := map[int64]int{}
	limit := int32(1000)
	var after *int64
	for {
		resp, err := s.Orders.ListOrdersByProductWithResponse(ctx, productID, &orderclient.ListOrdersByProductParams{Limit: &limit, After: after})
		if err != nil {
			return v, fmt.Errorf("list orders of product %d: %w", productID, err)
		}
		if resp.JSON200 == nil {
			return v, fmt.Errorf("list orders of product %d answered %d", productID, resp.StatusCode())
		}
		for _, o := range *resp.JSON200 {
			seen[o.Id]++
			v.Orders++
			switch o.Status {
			case orderclient.OrderStatusCONFIRMED:
				v.Confirmed++
				v.Σconfirmed += int64(o.Qty)
			case orderclient.OrderStatusREJECTED:
				v.Rejected++
			case orderclient.OrderStatusCANCELLED:
				v.Cancelled++
			default:
				v.Pending++
			}
		}
		if resp.HTTPResponse.Header.Get("Link") == "" || len(*resp.JSON200) == 0 {
			break
		}
		last := (*resp.JSON200)[len(*resp.JSON200)-1].Id
		after = &last
	}
	for id, n := range seen {
		if n > 1 {
			return v, fmt.Errorf("order %d is listed %d times", id, n)
		}
	}
	for _, id := range accepted {
		if seen[id] != 1 {
			return v, fmt.Errorf("accepted order %d does not exist", id)
		}
	}
	if v.Pending > 0 {
		return v, fmt.Errorf("%d orders still PENDING", v.Pending)
	}
	gp, err := s.Products.GetProductWithResponse(ctx, productID, &productclient.GetProductParams{})
	if err != nil {
		return v, fmt.Errorf("get product %d: %w", productID, err)
	}
	if gp.StatusCode() != http.StatusOK || gp.JSON200 == nil {
		return v, fmt.Errorf("get product %d answered %d", productID, gp.StatusCode())
	}
	v.StockNow, v.StockRead = gp.JSON200.Qty, true
	if int64(initialStock) != int64(v.StockNow)+v.Σconfirmed {
		return v, fmt.Errorf("stock does not add up: initial %d ≠ stock %d + Σ confirmed %d", initialStock, v.StockNow, v.Σconfirmed)
	}
	return v, nil
}
