package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/clients/requestid"
)

func (s *stack) createProduct(t *testing.T, name string, price money.Amount, qty int32) productclient.Product {
	t.Helper()
	resp, err := s.products.CreateProductWithResponse(context.Background(), &productclient.CreateProductParams{},
		productclient.ProductInput{Name: name, Price: price, Qty: qty})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode(), string(resp.Body))
	return *resp.JSON201
}

func (s *stack) stock(t *testing.T, id int64) int32 {
	t.Helper()
	resp, err := s.products.GetProductWithResponse(context.Background(), id, &productclient.GetProductParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
	return resp.JSON200.Qty
}

// waitFinal polls until every order is CONFIRMED or REJECTED and returns the statuses.
func (s *stack) waitFinal(t *testing.T, ids []int64, within time.Duration) map[int64]orderclient.OrderStatus {
	t.Helper()
	out := map[int64]orderclient.OrderStatus{}
	deadline := time.Now().Add(within)
	for _, id := range ids {
		for {
			resp, err := s.orders.GetOrderWithResponse(context.Background(), id, &orderclient.GetOrderParams{})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
			if st := resp.JSON200.Status; st != orderclient.OrderStatusPENDING {
				out[id] = st
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %d still PENDING after %s", id, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// TestOrderLifecycle: create product → order → stock reserved → order confirmed → BFF shows it,
// with one request ID findable in both services' logs.
func TestOrderLifecycle(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Lifecycle", money.FromCents(100050), 50)

	ctx := requestid.NewContext(context.Background(), "e2e-lifecycle-1")
	resp, err := s.orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 2})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode(), string(resp.Body))
	o := resp.JSON201
	assert.Equal(t, "e2e-lifecycle-1", resp.HTTPResponse.Header.Get("X-Request-ID"))
	assert.Equal(t, fmt.Sprintf("/orders/%d", o.Id), resp.HTTPResponse.Header.Get("Location"))
	assert.Equal(t, o.Id, o.OrderId)
	assert.Equal(t, orderclient.OrderStatusPENDING, o.Status)
	assert.Equal(t, "1000.5", o.UnitPrice.String())
	assert.Equal(t, "2001", o.TotalPrice.String())

	final := s.waitFinal(t, []int64{o.Id}, 15*time.Second)
	assert.Equal(t, orderclient.OrderStatusCONFIRMED, final[o.Id])
	assert.Equal(t, int32(48), s.stock(t, p.Id))

	bff, err := s.products.GetProductWithOrdersWithResponse(context.Background(), p.Id, &productclient.GetProductWithOrdersParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, bff.StatusCode(), string(bff.Body))
	assert.False(t, bff.JSON200.OrdersDegraded)
	require.Len(t, bff.JSON200.Orders, 1)
	assert.Equal(t, o.Id, bff.JSON200.Orders[0].Id)
	assert.Equal(t, productclient.ReportedOrderStatusCONFIRMED, bff.JSON200.Orders[0].Status)
	if assert.NotNil(t, bff.JSON200.Orders[0].UnitPrice, "order-service sent the unit price; the BFF passes it on") {
		assert.Equal(t, "1000.5", bff.JSON200.Orders[0].UnitPrice.String())
	}

	// The trace of the order is findable by its request ID in both services' logs: the HTTP
	// request in order-service, and the stock reservation its event caused in product-service.
	require.Eventually(t, func() bool {
		return strings.Contains(s.product.logs.String(), `"requestId":"e2e-lifecycle-1"`)
	}, 5*time.Second, 50*time.Millisecond, "product-service logged the request ID of the order it reserved stock for")
	assert.Contains(t, s.order.logs.String(), `"requestId":"e2e-lifecycle-1"`)
}

// TestNoOversell: 200 concurrent orders of qty 1 against a stock of 50 → exactly 50 confirmed,
// the rest rejected (or refused up front by the stock pre-check), stock 0, never negative.
func TestNoOversell(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Scarce", money.FromCents(1000), 50)

	var (
		mu       sync.Mutex
		ids      []int64
		refused  int
		wg       sync.WaitGroup
		failures []string
	)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 1})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case resp.StatusCode() == http.StatusCreated:
				ids = append(ids, resp.JSON201.Id)
			case resp.StatusCode() == http.StatusConflict:
				refused++
			default:
				failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode(), resp.Body))
			}
		}()
	}
	wg.Wait()
	require.Empty(t, failures)
	statuses := s.waitFinal(t, ids, 30*time.Second)
	confirmed, rejected := 0, 0
	for _, st := range statuses {
		if st == orderclient.OrderStatusCONFIRMED {
			confirmed++
		} else {
			rejected++
		}
	}
	assert.Equal(t, 50, confirmed)
	assert.Equal(t, 150, rejected+refused)
	assert.Equal(t, int32(0), s.stock(t, p.Id))
}

// Place, confirm, cancel, as an API user does: a fresh order waited for with Prefer: wait=5 is
// answered CONFIRMED in one call; then 100 confirmed orders, each cancelled twice at once, all end
// CANCELLED and give back exactly their stock.
func TestCancelGivesTheStockBackOnce(t *testing.T) {
	s := startStack(t)
	const initial, n, qty = 1000, 100, 2
	p := s.createProduct(t, "Cancellable", money.FromCents(250), initial)

	ids := s.placeOrders(t, p.Id, 1, qty)
	start := time.Now()
	wait := "wait=5"
	got, err := s.orders.GetOrderWithResponse(context.Background(), ids[0], &orderclient.GetOrderParams{Prefer: &wait})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, got.StatusCode(), string(got.Body))
	assert.Equal(t, orderclient.OrderStatusCONFIRMED, got.JSON200.Status, "one call waits for the outcome")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, "wait=5", got.HTTPResponse.Header.Get("Preference-Applied"))

	ids = append(ids, s.placeOrders(t, p.Id, n-1, qty)...)
	for id, st := range s.waitFinal(t, ids, 30*time.Second) {
		require.Equal(t, orderclient.OrderStatusCONFIRMED, st, "order %d", id)
	}
	require.Equal(t, int32(initial-n*qty), s.stock(t, p.Id))

	var wg sync.WaitGroup
	for _, id := range ids {
		for range 2 {
			wg.Go(func() {
				resp, err := s.orders.CancelOrderWithResponse(context.Background(), id, &orderclient.CancelOrderParams{})
				if assert.NoError(t, err) && assert.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body)) {
					assert.Equal(t, orderclient.OrderStatusCANCELLED, resp.JSON200.Status)
				}
			})
		}
	}
	wg.Wait()
	require.Eventually(t, func() bool { return s.stock(t, p.Id) == initial }, 30*time.Second, 100*time.Millisecond,
		"every cancelled order gives its stock back")
	time.Sleep(time.Second) // a second give-back of any order would show by now
	assert.Equal(t, int32(initial), s.stock(t, p.Id), "exactly once")
	for _, id := range ids {
		resp, err := s.orders.GetOrderWithResponse(context.Background(), id, &orderclient.GetOrderParams{})
		require.NoError(t, err)
		assert.Equal(t, orderclient.OrderStatusCANCELLED, resp.JSON200.Status, "order %d", id)
	}
}
