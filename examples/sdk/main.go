// Command sdk is the README's Go SDK example: it creates a product through the generated product
// client, orders two of it through the order client, and waits until the stock saga has
// confirmed (or rejected) the order. With `make run` going in another terminal:
//
//	cd examples && GOWORK=off go run ./sdk
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/clients/requestid"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sdk example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	ctx = requestid.NewContext(ctx, "sdk-example") // sent as X-Request-ID, logged by both services
	products, err := productclient.New("http://localhost:3000", productclient.Options{})
	if err != nil {
		return err
	}
	orders, err := orderclient.New("http://localhost:4000", orderclient.Options{})
	if err != nil {
		return err
	}

	p, err := products.CreateProductWithResponse(ctx, &productclient.CreateProductParams{},
		productclient.ProductInput{Name: "Example", Price: money.FromCents(1999), Qty: 10})
	if err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if p.JSON201 == nil { // a problem document: p.ApplicationproblemJSON400.Errors etc.
		return fmt.Errorf("create product: %d %s", p.StatusCode(), p.Body)
	}

	o, err := orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{},
		orderclient.OrderInput{ProductId: p.JSON201.Id, Qty: 2})
	if err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	if o.JSON201 == nil { // e.g. o.ApplicationproblemJSON404.Code == "PRODUCT_NOT_FOUND"
		return fmt.Errorf("create order: %d %s", o.StatusCode(), o.Body)
	}
	fmt.Println(o.StatusCode(), o.JSON201.Status, o.JSON201.TotalPrice) // 201 PENDING 39.98

	order, err := waitUntilFinal(ctx, orders, o.JSON201.Id)
	if err != nil {
		return err
	}
	fmt.Println(order.Status) // CONFIRMED
	return nil
}

// waitUntilFinal polls GET /orders/{id} until the stock saga has confirmed or rejected the order,
// which takes a few milliseconds, for at most 10 seconds.
func waitUntilFinal(ctx context.Context, orders *orderclient.ClientWithResponses, id int64) (*orderclient.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		got, err := orders.GetOrderWithResponse(ctx, id, &orderclient.GetOrderParams{})
		if err != nil {
			return nil, fmt.Errorf("get order %d: %w", id, err)
		}
		if got.JSON200 == nil {
			return nil, fmt.Errorf("get order %d: %d %s", id, got.StatusCode(), got.Body)
		}
		if got.JSON200.Status != orderclient.OrderStatusPENDING {
			return got.JSON200, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("order %d still PENDING: %w", id, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
