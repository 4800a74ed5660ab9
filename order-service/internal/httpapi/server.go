// Package httpapi is order-service's HTTP adapter: it implements the strict server generated
// from api/order-service.yaml by translating wire types to calls of the ordering.Service, and
// maps domain errors to problems in exactly one place (mapError).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/order-service/internal/httpapi/api"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/tracing"
)

var _ api.StrictServerInterface = (*Server)(nil)

// Orders is the application layer the handlers call (ordering.Service).
type Orders interface {
	PlaceOrder(ctx context.Context, p ordering.Placement) (ordering.Order, bool, error)
	GetOrder(ctx context.Context, id int64) (ordering.Order, error)
	WaitForOutcome(ctx context.Context, id int64, max time.Duration) (ordering.Order, bool, error)
	CancelOrder(ctx context.Context, id int64, correlationID string) (ordering.Order, error)
	ListByProduct(ctx context.Context, productID, before int64, limit int) (ordering.Page, bool, error)
}

// Deps are the Server's collaborators.
type Deps struct {
	Orders Orders
	Checks []health.Check
	Log    *slog.Logger
}

// Server implements the generated strict server interface.
type Server struct{ d Deps }

// NewServer returns a Server.
func NewServer(d Deps) *Server { return &Server{d: d} }

func ptr[T any](v T) *T { return &v }

func toAPI(o ordering.Order) api.Order {
	out := api.Order{
		Id: o.ID, ProductId: o.ProductID, Qty: o.Qty, UnitPrice: o.UnitPrice, TotalPrice: o.TotalPrice,
		Status: api.OrderStatus(o.Status), CreatedAt: o.CreatedAt.UTC(), UpdatedAt: ptr(o.UpdatedAt.UTC()),
	}
	if o.RejectReason != "" {
		out.RejectReason = ptr(api.RejectReason(o.RejectReason))
	}
	return out
}

func toCreated(o ordering.Order) api.CreatedOrder {
	a := toAPI(o)
	return api.CreatedOrder{
		Id: a.Id, OrderId: a.Id, ProductId: a.ProductId, Qty: a.Qty, UnitPrice: a.UnitPrice, TotalPrice: a.TotalPrice,
		Status: api.OrderStatus(a.Status), RejectReason: a.RejectReason, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// CreateOrder places an order; with an Idempotency-Key, a retry replays the first answer.
func (s *Server) CreateOrder(ctx context.Context, req api.CreateOrderRequestObject) (api.CreateOrderResponseObject, error) {
	p := ordering.Placement{Request: ordering.Request{ProductID: req.Body.ProductId, Qty: req.Body.Qty}, CorrelationID: requestid.FromContext(ctx),
		Traceparent: tracing.Traceparent(ctx)}
	if req.Params.IdempotencyKey != nil {
		p.Key = *req.Params.IdempotencyKey
	}
	o, replayed, err := s.d.Orders.PlaceOrder(ctx, p)
	if err != nil {
		return nil, err
	}
	resp := api.CreateOrder201JSONResponse{Body: toCreated(o)}
	resp.Headers.Location = ptr("/orders/" + strconv.FormatInt(o.ID, 10))
	if replayed {
		resp.Headers.IdempotentReplayed = ptr("true")
	}
	return resp, nil
}

// maxWait bounds Prefer: wait.
const maxWait = 10

// GetOrder answers one order; with Prefer: wait=N, once it is final or N seconds have passed.
func (s *Server) GetOrder(ctx context.Context, req api.GetOrderRequestObject) (api.GetOrderResponseObject, error) {
	wait, ok := preferredWait(req.Params.Prefer)
	if !ok {
		o, err := s.d.Orders.GetOrder(ctx, req.Id)
		if err != nil {
			return nil, err
		}
		return api.GetOrder200JSONResponse{Body: toAPI(o)}, nil
	}
	// The request waits for an event, not for work: it gives its shedding slot back; the
	// service caps the number of waiting requests.
	guard.LeaveSlot(ctx)
	o, waited, err := s.d.Orders.WaitForOutcome(ctx, req.Id, time.Duration(wait)*time.Second)
	if err != nil {
		return nil, err
	}
	resp := api.GetOrder200JSONResponse{Body: toAPI(o)}
	if waited {
		resp.Headers.PreferenceApplied = ptr("wait=" + strconv.Itoa(wait))
	}
	return resp, nil
}

// preferredWait reads the wait preference of an RFC 7240 Prefer header ("wait=5", possibly
// among others: "respond-async, wait=5"), capped at maxWait seconds. Other preferences, and a
// wait that is not a whole number of seconds, are ignored, as the RFC asks of unknown ones.
func preferredWait(prefer *string) (int, bool) {
	if prefer == nil {
		return 0, false
	}
	for _, p := range strings.Split(*prefer, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(strings.SplitN(p, ";", 2)[0]), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "wait") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
		if err != nil || n < 0 {
			return 0, false
		}
		return min(n, maxWait), n > 0
	}
	return 0, false
}

// CancelOrder cancels an order; cancelling it again answers the same.
func (s *Server) CancelOrder(ctx context.Context, req api.CancelOrderRequestObject) (api.CancelOrderResponseObject, error) {
	o, err := s.d.Orders.CancelOrder(ctx, req.Id, requestid.FromContext(ctx))
	if err != nil {
		return nil, err
	}
	return api.CancelOrder200JSONResponse{Body: toAPI(o)}, nil
}

const defaultLimit = 100

// ListOrdersByProduct answers a page of a product's orders, newest first; the next page is in
// the Link header.
func (s *Server) ListOrdersByProduct(ctx context.Context, req api.ListOrdersByProductRequestObject) (api.ListOrdersByProductResponseObject, error) {
	limit := defaultLimit
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	var after int64
	if req.Params.After != nil {
		after = *req.Params.After
	}
	page, hit, err := s.d.Orders.ListByProduct(ctx, req.Id, after, limit)
	if err != nil {
		return nil, err
	}
	resp := api.ListOrdersByProduct200JSONResponse{Body: make([]api.Order, len(page.Orders))}
	for i, o := range page.Orders {
		resp.Body[i] = toAPI(o)
	}
	resp.Headers.XCache = ptr("MISS")
	if hit {
		resp.Headers.XCache = ptr("HIT")
	}
	if page.More {
		resp.Headers.Link = ptr(fmt.Sprintf(`</orders/product/%d?after=%d&limit=%d>; rel="next"`, req.Id, page.Orders[len(page.Orders)-1].ID, limit))
	}
	return resp, nil
}

// GetHealth is the original service's health answer.
func (s *Server) GetHealth(context.Context, api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	return api.GetHealth200JSONResponse{Body: api.Health{Status: "order-service up"}}, nil
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

// mapError is the one place where order-service's errors become problems.
func mapError(err error) *problem.Problem {
	var ise *ordering.InsufficientStockError
	switch {
	case errors.Is(err, ordering.ErrNotFound):
		return problem.New(http.StatusNotFound, "ORDER_NOT_FOUND", "Order not found", "The order does not exist.")
	case errors.Is(err, ordering.ErrProductNotFound):
		return problem.New(http.StatusNotFound, "PRODUCT_NOT_FOUND", "Product not found", "The product does not exist.")
	case errors.As(err, &ise):
		return problem.New(http.StatusConflict, "INSUFFICIENT_STOCK", "Insufficient stock", ise.Error()+".")
	case errors.Is(err, ordering.ErrIdempotencyKeyReused):
		return problem.New(http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused",
			"The Idempotency-Key was used with a different request body.")
	case errors.Is(err, ordering.ErrIdempotencyKeyInUse):
		p := problem.New(http.StatusConflict, "IDEMPOTENCY_KEY_IN_USE", "Idempotency key in use",
			"A request with this Idempotency-Key is still being processed; retry shortly.")
		p.RetryAfter = 1
		return p
	case errors.Is(err, ordering.ErrProductServiceUnavailable):
		p := problem.New(http.StatusServiceUnavailable, "PRODUCT_SERVICE_UNAVAILABLE", "Product service unavailable",
			"The product could not be looked up; try again.")
		p.RetryAfter = 1
		return p
	case errors.Is(err, ordering.ErrNotCancellable):
		return problem.New(http.StatusConflict, "ORDER_NOT_CANCELLABLE", "Order not cancellable",
			"The order was REJECTED; only PENDING and CONFIRMED orders can be cancelled.")
	case errors.Is(err, ordering.ErrOutcomeUnknown):
		return problem.New(http.StatusInternalServerError, "ORDER_OUTCOME_UNKNOWN", "Order outcome unknown",
			"The database did not confirm in time whether the order was stored. Retry with the same Idempotency-Key to get the order if it was stored, or a new one if it was not.")
	case errors.Is(err, context.Canceled), dbx.IsUnavailable(err):
		p := problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable, "Service unavailable", "The database is unavailable; retry shortly.")
		p.RetryAfter = 1
		return p
	}
	return nil
}

// HandlerConfig is what NewHandler needs besides the Server.
type HandlerConfig struct {
	Log               *slog.Logger
	Registry          *prometheus.Registry
	APIKeys           []string
	RateLimitRequests int
	Shedding          guard.Shedding
	AccessLog         telemetry.AccessLogConfig
	// TracerProvider traces every request (nil: tracing off; see platform/tracing).
	TracerProvider trace.TracerProvider
}

// NewHandler builds the HTTP handler with the shared middleware, validator and problem writer.
func NewHandler(s *Server, cfg HandlerConfig) (http.Handler, error) {
	r, err := httpx.NewRouter(httpx.RouterConfig{
		Service: "order-service", OpenAPI: apidocs.OrderService(), AsyncAPI: apidocs.Events(), Log: cfg.Log, Registry: cfg.Registry,
		APIKeys: cfg.APIKeys, RateLimitRequests: cfg.RateLimitRequests, RateLimitWindow: time.Second,
		Shedding: cfg.Shedding, AccessLog: cfg.AccessLog, TracerProvider: cfg.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	eh := problem.NewErrorHandlers(cfg.Log, mapError)
	strict := api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: eh.Request, ResponseErrorHandlerFunc: eh.Response,
	})
	return api.HandlerWithOptions(strict, api.ChiServerOptions{BaseRouter: r, ErrorHandlerFunc: eh.Param}), nil
}
