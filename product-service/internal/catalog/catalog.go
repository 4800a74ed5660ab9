// Package catalog is product-service's domain and application layer. The domain: what a product
// is, the rules a product change must keep, and how an order's stock reservation is decided. The
// application layer (Service): every use case — product writes, reads through the caches, stock
// reservation — over small ports (Store, DocumentCache, LocalCache, Invalidator, Notifier) that
// mysql, rediscache, localcache and the platform adapt. It has no I/O of its own; httpapi and
// messaging only translate wire types to calls of the Service.
package catalog

import (
	"errors"
	"strings"
	"time"

	"github.com/shopworks/shop/clients/money"
)

// ErrNotFound is returned when no product has the requested id.
var ErrNotFound = errors.New("product not found")

// Product is a catalog entry. Qty is the stock, never negative.
type Product struct {
	ID        int64
	Name      string
	Price     money.Amount
	Qty       int32
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Input is a whole product as a client sends it (create and replace).
type Input struct {
	Name  string
	Price money.Amount
	Qty   int32
}

// Patch holds the fields to change; nil fields stay as they are.
type Patch struct {
	Name  *string
	Price *money.Amount
	Qty   *int32
}

// FieldError names a field that breaks a rule.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every broken rule of an input at once.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid product: " + strings.Join(parts, "; ")
}

// MaxNameLen bounds a product name (the column is VARCHAR(200)).
const MaxNameLen = 200

// Validate checks the rules every stored product keeps: a non-blank name of at most 200
// characters, a positive price, a stock of zero or more. The HTTP layer validates the same rules
// against the spec first; these hold for any caller.
func (in Input) Validate() error {
	var fields []FieldError
	if strings.TrimSpace(in.Name) == "" {
		fields = append(fields, FieldError{"name", "must not be blank"})
	} else if len([]rune(in.Name)) > MaxNameLen {
		fields = append(fields, FieldError{"name", "must be at most 200 characters"})
	}
	if in.Price <= 0 {
		fields = append(fields, FieldError{"price", "must be greater than 0"})
	}
	if in.Qty < 0 {
		fields = append(fields, FieldError{"qty", "must be 0 or more"})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// Apply returns the input that results from patching p.
func (p Product) Apply(patch Patch) Input {
	in := Input{Name: p.Name, Price: p.Price, Qty: p.Qty}
	if patch.Name != nil {
		in.Name = *patch.Name
	}
	if patch.Price != nil {
		in.Price = *patch.Price
	}
	if patch.Qty != nil {
		in.Qty = *patch.Qty
	}
	return in
}

// Empty reports whether the patch changes nothing.
func (p Patch) Empty() bool { return p.Name == nil && p.Price == nil && p.Qty == nil }

// Outcome is the result of trying to reserve stock for an order.
type Outcome string

// Reservation outcomes. The rejection reasons are the wire values of stock.rejected.
const (
	Reserved          Outcome = "RESERVED"
	InsufficientStock Outcome = "INSUFFICIENT_STOCK"
	ProductMissing    Outcome = "PRODUCT_NOT_FOUND"
	AlreadyProcessed  Outcome = "ALREADY_PROCESSED"
)

// ReservationRequest is what an order.created event asks for.
type ReservationRequest struct {
	OrderID   int64
	ProductID int64
	Qty       int32
	// CorrelationID is the request ID that caused the order; the stock result carries it on.
	CorrelationID string
}

// Validate rejects requests no retry can fix.
func (r ReservationRequest) Validate() error {
	var fields []FieldError
	if r.OrderID < 1 {
		fields = append(fields, FieldError{"orderId", "must be at least 1"})
	}
	if r.ProductID < 1 {
		fields = append(fields, FieldError{"productId", "must be at least 1"})
	}
	if r.Qty < 1 {
		fields = append(fields, FieldError{"qty", "must be at least 1"})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// Decide turns what the conditional stock update saw into an outcome: the update took the stock
// (reserved), or it did not because the product is gone or has too little.
func Decide(updated, productExists bool) Outcome {
	switch {
	case updated:
		return Reserved
	case !productExists:
		return ProductMissing
	default:
		return InsufficientStock
	}
}

// ReservationResult is the decided outcome of a request.
type ReservationResult struct {
	Request ReservationRequest
	Outcome Outcome
}

// DecideBatch decides a batch of reservations against the stock of their products, in order:
// each request takes its qty while enough is left. stock holds each product's current stock
// (absent = the product does not exist) and is updated in place.
func DecideBatch(reqs []ReservationRequest, stock map[int64]int32) []Outcome {
	out := make([]Outcome, len(reqs))
	for i, r := range reqs {
		qty, ok := stock[r.ProductID]
		out[i] = Decide(ok && qty >= r.Qty, ok)
		if out[i] == Reserved {
			stock[r.ProductID] = qty - r.Qty
		}
	}
	return out
}
