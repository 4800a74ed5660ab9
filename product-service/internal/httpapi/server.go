// Package httpapi is product-service's HTTP adapter: it implements the strict server generated
// from api/product-service.yaml, maps domain errors to problems in exactly one place (mapError),
// serves GET /products/{id} through the Redis cache, and joins orders from order-service for the BFF.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/httpapi/api"
	"github.com/shopworks/shop/product-service/internal/localcache"
	"github.com/shopworks/shop/product-service/internal/messaging"
	"github.com/shopworks/shop/product-service/internal/mysql"
	"github.com/shopworks/shop/product-service/internal/rediscache"
)

var _ api.StrictServerInterface = (*Server)(nil)

// Deps are the Server's collaborators.
type Deps struct {
	Store *mysql.Store
	Cache *rediscache.Cache
	// Local is the in-process cache in front of Cache (nil: none); AfterWrite must invalidate it.
	Local         *localcache.Cache
	Orders        *orderclient.ClientWithResponses
	OrdersTimeout time.Duration
	// AfterWrite runs after a committed product change (cache invalidation, relay wake-up).
	AfterWrite func(ctx context.Context, productID int64)
	Checks     []httpx.Check
	Log        *slog.Logger
	Now        func() time.Time
}

// Server implements the generated strict server interface.
type Server struct {
	d     Deps
	loads singleflight.Group
}

// NewServer returns a Server.
func NewServer(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Server{d: d}
}

const defaultLimit = 100

func toAPI(p catalog.Product) api.Product {
	return api.Product{Id: p.ID, Name: p.Name, Price: p.Price, Qty: p.Qty, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

func ptr[T any](v T) *T { return &v }

// ListProducts answers a page of products; the next page is in the Link header.
func (s *Server) ListProducts(ctx context.Context, req api.ListProductsRequestObject) (api.ListProductsResponseObject, error) {
	limit := defaultLimit
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	var after int64
	if req.Params.After != nil {
		after = *req.Params.After
	}
	rows, err := s.d.Store.List(ctx, after, limit+1)
	if err != nil {
		return nil, err
	}
	resp := api.ListProducts200JSONResponse{Body: make([]api.Product, 0, len(rows))}
	if len(rows) > limit {
		rows = rows[:limit]
		resp.Headers.Link = ptr(fmt.Sprintf(`</products?after=%d&limit=%d>; rel="next"`, rows[len(rows)-1].ID, limit))
	}
	for _, p := range rows {
		resp.Body = append(resp.Body, toAPI(p))
	}
	return resp, nil
}

// CreateProduct stores a product and emits product.updated.
func (s *Server) CreateProduct(ctx context.Context, req api.CreateProductRequestObject) (api.CreateProductResponseObject, error) {
	in := catalog.Input{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}
	p, err := s.d.Store.Create(ctx, in, messaging.ProductUpdated(httpx.RequestIDFrom(ctx)))
	if err != nil {
		return nil, err
	}
	s.d.AfterWrite(ctx, p.ID)
	return api.CreateProduct201JSONResponse{Body: toAPI(p), Headers: api.CreateProduct201ResponseHeaders{
		Location: ptr("/products/" + strconv.FormatInt(p.ID, 10)),
	}}, nil
}

// GetProduct serves from the cache when it can, from MySQL otherwise.
func (s *Server) GetProduct(ctx context.Context, req api.GetProductRequestObject) (api.GetProductResponseObject, error) {
	body, hit, err := s.productJSON(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	state := "MISS"
	if hit {
		state = "HIT"
	}
	return cachedProduct{body: body, cache: state}, nil
}

// cachedProduct writes the cached JSON as is: no decode and re-encode on the hot path.
type cachedProduct struct {
	body  []byte
	cache string
}

func (c cachedProduct) VisitGetProductResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cache", c.cache)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(c.body)
	return err
}

// productJSON returns the product's JSON and whether it came from the cache. Concurrent misses
// of one id load once; the loaded value is cached only if no write invalidated it meanwhile.
func (s *Server) productJSON(ctx context.Context, id int64) ([]byte, bool, error) {
	if b, ok := s.d.Local.Get(id); ok {
		return b, true, nil
	}
	localGen := s.d.Local.Generation()
	if b, err := s.d.Cache.Get(ctx, id); err == nil && b != nil {
		s.d.Local.Put(id, b, localGen)
		return b, true, nil
	} else if err != nil && !errors.Is(err, rediscache.ErrBypassed) {
		s.d.Log.WarnContext(ctx, "redis read failed; serving from MySQL", slog.String("error", err.Error()))
	}
	v, err, _ := s.loads.Do(strconv.FormatInt(id, 10), func() (any, error) {
		gen, genErr := s.d.Cache.Generation(ctx, id)
		p, err := s.d.Store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(toAPI(p))
		if err != nil {
			return nil, fmt.Errorf("encode product %d: %w", id, err)
		}
		b = append(b, '\n')
		if genErr == nil {
			if _, err := s.d.Cache.SetIfCurrent(ctx, id, gen, b); err != nil {
				s.d.Log.WarnContext(ctx, "redis write failed", slog.String("error", err.Error()))
			}
		}
		return b, nil
	})
	if err != nil {
		return nil, false, err
	}
	s.d.Local.Put(id, v.([]byte), localGen)
	return v.([]byte), false, nil
}

// ReplaceProduct replaces every field.
func (s *Server) ReplaceProduct(ctx context.Context, req api.ReplaceProductRequestObject) (api.ReplaceProductResponseObject, error) {
	in := catalog.Input{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}
	p, err := s.d.Store.Update(ctx, req.Id, func(catalog.Product) catalog.Input { return in }, messaging.ProductUpdated(httpx.RequestIDFrom(ctx)))
	if err != nil {
		return nil, err
	}
	s.d.AfterWrite(ctx, p.ID)
	return api.ReplaceProduct200JSONResponse{Body: toAPI(p)}, nil
}

// UpdateProduct changes the given fields.
func (s *Server) UpdateProduct(ctx context.Context, req api.UpdateProductRequestObject) (api.UpdateProductResponseObject, error) {
	patch := catalog.Patch{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}
	if patch.Empty() {
		return nil, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "body", Message: "at least one of name, price, qty is required"}}}
	}
	p, err := s.d.Store.Update(ctx, req.Id, func(cur catalog.Product) catalog.Input { return cur.Apply(patch) }, messaging.ProductUpdated(httpx.RequestIDFrom(ctx)))
	if err != nil {
		return nil, err
	}
	s.d.AfterWrite(ctx, p.ID)
	return api.UpdateProduct200JSONResponse{Body: toAPI(p)}, nil
}

// DeleteProduct removes a product and answers it as it was.
func (s *Server) DeleteProduct(ctx context.Context, req api.DeleteProductRequestObject) (api.DeleteProductResponseObject, error) {
	p, err := s.d.Store.Delete(ctx, req.Id, messaging.ProductDeleted(httpx.RequestIDFrom(ctx), s.d.Now))
	if err != nil {
		return nil, err
	}
	s.d.AfterWrite(ctx, p.ID)
	return api.DeleteProduct200JSONResponse{Body: toAPI(p)}, nil
}

// GetLiveness answers while the process serves HTTP.
func (s *Server) GetLiveness(context.Context, api.GetLivenessRequestObject) (api.GetLivenessResponseObject, error) {
	return api.GetLiveness200JSONResponse{Body: api.Health{Status: "ok"}}, nil
}

// GetReadiness checks MySQL, Redis and RabbitMQ.
func (s *Server) GetReadiness(ctx context.Context, _ api.GetReadinessRequestObject) (api.GetReadinessResponseObject, error) {
	status, results, ok := httpx.Readiness(ctx, s.d.Checks, time.Second)
	body := api.Readiness{Status: api.ReadinessStatus(status), Checks: make([]api.DependencyStatus, 0, len(results))}
	for _, r := range results {
		ds := api.DependencyStatus{Name: api.DependencyStatusName(r.Name), Status: api.DependencyStatusStatus(r.Status)}
		if r.Error != "" {
			ds.Error = ptr(r.Error)
		}
		body.Checks = append(body.Checks, ds)
	}
	if !ok {
		return api.GetReadiness503JSONResponse{Body: body}, nil
	}
	return api.GetReadiness200JSONResponse{Body: body}, nil
}

// mapError is the one place where product-service's errors become problems.
func mapError(err error) *httpx.Problem {
	var ve *catalog.ValidationError
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return httpx.NewProblem(http.StatusNotFound, "PRODUCT_NOT_FOUND", "Product not found", "The product does not exist.")
	case errors.As(err, &ve):
		fields := make([]httpx.FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = httpx.FieldError{Field: f.Field, Message: f.Message}
		}
		return httpx.ValidationProblem(fields)
	case errors.Is(err, context.Canceled), dbx.IsUnavailable(err):
		p := httpx.NewProblem(http.StatusServiceUnavailable, httpx.CodeServiceUnavailable, "Service unavailable", "The database is unavailable; retry shortly.")
		p.RetryAfter = 1
		return p
	}
	return nil
}
