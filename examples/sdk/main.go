// Command sdk is the README's Go SDK example: it creates a product through the generated product
// client, orders two of it through the order client, and waits until the stock saga has
// confirmed (or rejected) the order. With `make run` going in another terminal:
//
//	cd examples && GOWORK=off go run ./sdk
package main

import (
	"context"
	"errors"
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

	// PlaceOrderAndWait sends an Idempotency-Key and retries with it, so the order is placed once,
	// then waits (GET /orders/{id} with Prefer: wait, no polling) until the stock saga decides it.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	order, err := orders.PlaceOrderAndWait(ctx, orderclient.OrderInput{ProductId: p.JSON201.Id, Qty: 2})
	var problem *orderclient.ProblemError
	if errors.As(err, &problem) { // e.g. problem.Status == 409, problem.Problem.Code == "INSUFFICIENT_STOCK"
		return fmt.Errorf("place order: %d %s", problem.Status, problem.Problem.Code)
	}
	if err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	fmt.Println(order.Id, order.Status, order.TotalPrice) // 1 CONFIRMED 39.98
	return nil
}
