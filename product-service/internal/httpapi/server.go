// Package httpapi is product-service's HTTP adapter: it implements the strict server generated
// from api/product-service.yaml by translating wire types to calls of the catalog.Service, maps
// domain errors to problems in exactly one place (mapError), and joins orders from order-service
// for the BFF.
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

	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/httpapi/api"
)

var _ api.StrictServerInterface = (*Server)(nil)

// Catalog is the application layer the handlers call (catalog.Service).
type Catalog interface {
	CreateProduct(ctx context.Context, in catalog.Input, correlationID string) (catalog.Product, error)
	ReplaceProduct(ctx context.Context, id int64, in catalog.Input, correlationID string) (catalog.Product, error)
	UpdateProduct(ctx context.Context, id int64, patch catalog.Patch, correlationID string) (catalog.Product, error)
	DeleteProduct(ctx context.Context, id int64, correlationID string) (catalog.Product, error)
	GetProduct(ctx context.Context, id int64) (catalog.Product, error)
	ListProducts(ctx context.Context, after int64, limit int) ([]catalog.Product, error)
	ProductDocument(ctx context.Context, id int64) ([]byte, bool, error)
}

// Deps are the Server's collaborators.
type Deps struct {
	Catalog       Catalog
	Orders        *orderclient.ClientWithResponses
	OrdersTimeout time.Duration
	Checks        []health.Check
	Log           *slog.Logger
}

// Server implements the generated strict server interface.
type Server struct{ d Deps }

// NewServer returns a Server.
func NewServer(d Deps) *Server { return &Server{d: d} }

const defaultLimit = 100

func toAPI(p catalog.Product) api.Product {
	return api.Product{Id: p.ID, Name: p.Name, Price: p.Price, Qty: p.Qty, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

// EncodeProduct is the document GET /products/{id} answers, as the caches keep it
// (catalog.Deps.Encode): the JSON of the API's Product and a newline.
func EncodeProduct(p catalog.Product) ([]byte, error) {
	b, err := json.Marshal(toAPI(p))
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func ptr[T any](v T) *T { return &v }

// ListProducts answers a page of products; the next page is in the Link header.
func (s *Server) ListProducts(ctx context.Context, req api.ListProductsRequestObject) (api.ListProductsResponseObject, error) {
	limit := defaultLimit
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	var after int64
	if req.Params.After != nil {
		after = *req.Params.After
	}
	rows, err := s.d.Catalog.ListProducts(ctx, after, limit+1)
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
	p, err := s.d.Catalog.CreateProduct(ctx, catalog.Input{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}, requestid.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return api.CreateProduct201JSONResponse{Body: toAPI(p), Headers: api.CreateProduct201ResponseHeaders{
		Location: ptr("/products/" + strconv.FormatInt(p.ID, 10)),
	}}, nil
}

// GetProduct serves the product's document from the caches when it can, from MySQL otherwise.
func (s *Server) GetProduct(ctx context.Context, req api.GetProductRequestObject) (api.GetProductResponseObject, error) {
	body, hit, err := s.d.Catalog.ProductDocument(ctx, req.Id)
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

// ReplaceProduct replaces every field.
func (s *Server) ReplaceProduct(ctx context.Context, req api.ReplaceProductRequestObject) (api.ReplaceProductResponseObject, error) {
	p, err := s.d.Catalog.ReplaceProduct(ctx, req.Id, catalog.Input{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}, requestid.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return api.ReplaceProduct200JSONResponse{Body: toAPI(p)}, nil
}

// UpdateProduct changes the given fields.
func (s *Server) UpdateProduct(ctx context.Context, req api.UpdateProductRequestObject) (api.UpdateProductResponseObject, error) {
	p, err := s.d.Catalog.UpdateProduct(ctx, req.Id, catalog.Patch{Name: req.Body.Name, Price: req.Body.Price, Qty: req.Body.Qty}, requestid.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return api.UpdateProduct200JSONResponse{Body: toAPI(p)}, nil
}

// DeleteProduct removes a product and answers it as it was.
func (s *Server) DeleteProduct(ctx context.Context, req api.DeleteProductRequestObject) (api.DeleteProductResponseObject, error) {
	p, err := s.d.Catalog.DeleteProduct(ctx, req.Id, requestid.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return api.DeleteProduct200JSONResponse{Body: toAPI(p)}, nil
}

// GetLiveness answers while the process serves HTTP.
func (s *Server) GetLiveness(context.Context, api.GetLivenessRequestObject) (api.GetLivenessResponseObject, error) {
	return api.GetLiveness200JSONResponse{Body: api.Health{Status: "ok"}}, nil
}

// GetReadiness checks MySQL, Redis and RabbitMQ.
func (s *Server) GetReadiness(ctx context.Context, _ api.GetReadinessRequestObject) (api.GetReadinessResponseObject, error) {
	status, results, ok := health.Readiness(ctx, s.d.Checks, time.Second)
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
func mapError(err error) *problem.Problem {
	var ve *catalog.ValidationError
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return problem.New(http.StatusNotFound, "PRODUCT_NOT_FOUND", "Product not found", "The product does not exist.")
	case errors.As(err, &ve):
		fields := make([]problem.FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = problem.FieldError{Field: f.Field, Message: f.Message}
		}
		return problem.Validation(fields)
	case errors.Is(err, context.Canceled), dbx.IsUnavailable(err):
		p := problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable, "Service unavailable", "The database is unavailable; retry shortly.")
		p.RetryAfter = 1
		return p
	}
	return nil
}
