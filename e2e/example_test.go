package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/clients/requestid"
)

// Example_orderLifecycle is the Go SDK walk-through of the README: create a product, order it,
// and poll until the stock saga has confirmed the order. go test runs it against both services.
func Example_orderLifecycle() {
	productsURL, ordersURL := exampleStack()
	ctx := requestid.NewContext(context.Background(), "example-1") // forwarded as X-Request-ID

	products, _ := productclient.New(productsURL, productclient.Options{})
	orders, _ := orderclient.New(ordersURL, orderclient.Options{})

	p, _ := products.CreateProductWithResponse(ctx, &productclient.CreateProductParams{},
		productclient.ProductInput{Name: "Example", Price: money.FromCents(1999), Qty: 10})
	o, _ := orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{},
		orderclient.OrderInput{ProductId: p.JSON201.Id, Qty: 2})
	fmt.Println(o.StatusCode(), o.JSON201.Status, o.JSON201.TotalPrice)

	for {
		got, _ := orders.GetOrderWithResponse(ctx, o.JSON201.Id, &orderclient.GetOrderParams{})
		if got.JSON200.Status != orderclient.OrderStatusPENDING {
			fmt.Println(got.JSON200.Status)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	left, _ := products.GetProductWithResponse(ctx, p.JSON201.Id, &productclient.GetProductParams{})
	fmt.Println(left.JSON200.Qty)
	// Output:
	// 201 PENDING 39.98
	// CONFIRMED
	// 8
}

// Examples have no *testing.T, so their stack is started once through mainTB and torn down
// when TestMain ends.
var (
	exampleOnce  sync.Once
	exampleURLs  [2]string
	exampleScope = &mainTB{}
)

func exampleStack() (string, string) {
	exampleOnce.Do(func() {
		s := startStack(exampleScope)
		exampleURLs = [2]string{s.productURL, s.orderURL}
	})
	return exampleURLs[0], exampleURLs[1]
}

// mainTB is the testing.TB of the example stack: failures print and exit, cleanups run at the
// end of TestMain. (Embedding testing.TB satisfies its unexported method; every method the
// stack helpers use is implemented here.)
type mainTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (m *mainTB) Helper()                 {}
func (m *mainTB) Name() string            { return "Example" }
func (m *mainTB) Failed() bool            { return m.failed }
func (m *mainTB) Log(args ...any)         { fmt.Fprintln(os.Stderr, args...) }
func (m *mainTB) Logf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (m *mainTB) Errorf(f string, a ...any) {
	m.failed = true
	fmt.Fprintf(os.Stderr, "example stack: "+f+"\n", a...)
}
func (m *mainTB) Error(args ...any) { m.Errorf("%s", fmt.Sprint(args...)) }
func (m *mainTB) FailNow()          { m.failed = true; m.runCleanups(); os.Exit(1) }
func (m *mainTB) Fatalf(f string, a ...any) {
	m.Errorf(f, a...)
	m.FailNow()
}
func (m *mainTB) Fatal(args ...any)        { m.Error(args...); m.FailNow() }
func (m *mainTB) Skipf(f string, a ...any) { m.Fatalf("cannot skip an example: "+f, a...) }
func (m *mainTB) Output() io.Writer        { return os.Stderr }
func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

func (m *mainTB) runCleanups() {
	m.mu.Lock()
	fs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
