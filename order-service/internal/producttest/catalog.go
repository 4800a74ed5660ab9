package producttest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/shopworks/shop/clients/money"
)

// Catalog is an in-memory product-service.
type Catalog struct {
	mu       sync.Mutex
	products map[int64]Product
	nextID   int64
	// Gets counts GET /products/{id} calls (to observe the price cache).
	Gets atomic.Int64
}

var _ StrictServerInterface = (*Catalog)(nil)

// Start serves a new catalog on a test server closed at the end of the test.
func Start(t interface{ Cleanup(func()) }) (*Catalog, *httptest.Server) {
	c := &Catalog{products: map[int64]Product{}}
	r := chi.NewRouter()
	h := HandlerFromMux(NewStrictHandler(c, nil), r)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return c, ts
}

// Add stores a product and returns it.
func (c *Catalog) Add(name string, price money.Amount, qty int32) Product {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	now := time.Now().UTC()
	p := Product{Id: c.nextID, Name: name, Price: price, Qty: qty, CreatedAt: now, UpdatedAt: now}
	c.products[p.Id] = p
	return p
}

// Remove deletes a product.
func (c *Catalog) Remove(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.products, id)
}

// GetProduct answers one product or 404.
func (c *Catalog) GetProduct(_ context.Context, req GetProductRequestObject) (GetProductResponseObject, error) {
	c.Gets.Add(1)
	c.mu.Lock()
	p, ok := c.products[req.Id]
	c.mu.Unlock()
	if !ok {
		return GetProduct404ApplicationProblemPlusJSONResponse{ProductNotFoundApplicationProblemPlusJSONResponse{Body: Problem{Type: "about:blank", Title: "Product not found", Status: 404, Code: "PRODUCT_NOT_FOUND", RequestId: "test"}}}, nil
	}
	return GetProduct200JSONResponse{Body: p}, nil
}

// The rest of the API is not used by order-service.

func (c *Catalog) GetLiveness(context.Context, GetLivenessRequestObject) (GetLivenessResponseObject, error) {
	return GetLiveness200JSONResponse{Body: Health{Status: "ok"}}, nil
}

func (c *Catalog) ListProducts(context.Context, ListProductsRequestObject) (ListProductsResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) CreateProduct(context.Context, CreateProductRequestObject) (CreateProductResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) DeleteProduct(context.Context, DeleteProductRequestObject) (DeleteProductResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) UpdateProduct(context.Context, UpdateProductRequestObject) (UpdateProductResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) ReplaceProduct(context.Context, ReplaceProductRequestObject) (ReplaceProductResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) GetProductWithOrders(context.Context, GetProductWithOrdersRequestObject) (GetProductWithOrdersResponseObject, error) {
	return nil, errNotUsed
}

func (c *Catalog) GetReadiness(context.Context, GetReadinessRequestObject) (GetReadinessResponseObject, error) {
	return nil, errNotUsed
}

var errNotUsed = http.ErrNotSupported
