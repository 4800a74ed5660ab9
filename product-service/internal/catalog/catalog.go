// Package catalog is product-service's domain and application layer. The domain: what a product
// is, the rules a product change must keep, and how an order's stock reservation is decided. The
// application layer (Service): every use case — product writes, reads through the caches, stock
// reservation — over small ports (Store, DocumentCache, LocalCache, Invalidator, Notifier) that
// mysql, rediscache, localcache and the platform adapt. It has no I/O of its own; httpapi and
// messaging only translate wire types to calls of the Service.
package catalog

import (
	"errors"
	"maps"
	"slices"
	"strconv"
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

// Outcome is what a stock request did. Reserved, InsufficientStock and ProductMissing answer a
// reservation (and are the wire values of stock.results); the others change nothing visible.
type Outcome string

// Stock outcomes.
const (
	Reserved          Outcome = "RESERVED"
	InsufficientStock Outcome = "INSUFFICIENT_STOCK"
	ProductMissing    Outcome = "PRODUCT_NOT_FOUND"
	// AlreadyProcessed: the order was decided before (a redelivery, or cancelled first).
	AlreadyProcessed Outcome = "ALREADY_PROCESSED"
	// Released: a reserved order was cancelled and its stock given back.
	Released Outcome = "RELEASED"
	// CancelledFirst: the cancellation arrived before the reservation, which will never take stock.
	CancelledFirst Outcome = "CANCELLED"
	// NothingToRelease: the cancelled order holds no stock (rejected, or already given back).
	NothingToRelease Outcome = "NOTHING_TO_RELEASE"
)

// Answers reports whether the outcome decides a reservation (it is sent back in stock.results).
func (o Outcome) Answers() bool {
	return o == Reserved || o == InsufficientStock || o == ProductMissing
}

// StockRequest is what an order event asks of the stock: reserve the order's quantity
// (order.created) or give a reservation back (order.cancelled).
type StockRequest struct {
	Release   bool
	OrderID   int64
	ProductID int64
	Qty       int32
	// OrderEventID is the eventId of the order's order.created ("" for the original system's
	// payload, which has none): the order's identity, so that two systems' order ids never collide.
	OrderEventID string
	// CorrelationID is the request ID that caused the order; the stock result carries it on.
	CorrelationID string
	// Traceparent is the trace context the request is handled in ("" without tracing); the
	// order's stock result carries it, so order-service settles the order in the order's trace.
	Traceparent string
}

// Key is the order's identity under which its reservation is recorded: its order.created event
// ID, or — for the original system's payload, which has none — its order ID in a namespace of its
// own.
func (r StockRequest) Key() string {
	if r.OrderEventID != "" {
		return "e:" + r.OrderEventID
	}
	return "o:" + strconv.FormatInt(r.OrderID, 10)
}

// Validate rejects requests no retry can fix.
func (r StockRequest) Validate() error {
	var fields []FieldError
	if r.OrderID < 1 {
		fields = append(fields, FieldError{"orderId", "must be at least 1"})
	}
	if r.ProductID < 1 {
		fields = append(fields, FieldError{"productId", "must be at least 1"})
	}
	if r.Qty < 1 || r.Qty > MaxOrderQty {
		fields = append(fields, FieldError{"qty", "must be 1.." + strconv.Itoa(MaxOrderQty)})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// MaxOrderQty bounds one order's quantity.
const MaxOrderQty = 10000

// Record is what is known of an order's reservation: its outcome (Reserved, InsufficientStock,
// ProductMissing, Released or CancelledFirst), and the stock it concerns.
type Record struct {
	Outcome   Outcome
	ProductID int64
	Qty       int32
}

// StockResult is the decided outcome of a request.
type StockResult struct {
	Request StockRequest
	Outcome Outcome
}

// StockDecision is what a batch decided: each request's result, the new or changed records to
// store, and the products whose stock changed (their new stock is in the map DecideStock updated).
type StockDecision struct {
	Results  []StockResult
	New      map[string]Record // orders seen for the first time
	Released []string          // keys of reserved orders whose stock was given back
	Changed  []int64           // products whose stock changed
}

// DecideStock decides a batch of stock requests in arrival order against the orders recorded
// before (records, by Key) and the products' stock (absent = the product does not exist; updated
// in place). A reservation takes its quantity only while enough is left — stock never goes
// negative — and only once per order; a cancellation gives a reservation back once (if it names
// the reservation's product and quantity; one that does not is not the order's), and one that
// arrives first keeps the order from ever being reserved.
func DecideStock(reqs []StockRequest, records map[string]Record, stock map[int64]int32) StockDecision {
	d := StockDecision{Results: make([]StockResult, len(reqs)), New: map[string]Record{}}
	changed := map[int64]bool{}
	for i, r := range reqs {
		key := r.Key()
		rec, known := records[key]
		out := AlreadyProcessed
		switch {
		case !r.Release && !known:
			qty, exists := stock[r.ProductID]
			switch {
			case !exists:
				out = ProductMissing
			case qty < r.Qty:
				out = InsufficientStock
			default:
				out = Reserved
				stock[r.ProductID] = qty - r.Qty
				changed[r.ProductID] = true
			}
			rec = Record{Outcome: out, ProductID: r.ProductID, Qty: r.Qty}
			records[key], d.New[key] = rec, rec
		case r.Release && !known:
			out = CancelledFirst
			rec = Record{Outcome: out, ProductID: r.ProductID, Qty: r.Qty}
			records[key], d.New[key] = rec, rec
		case r.Release && rec.Outcome == Reserved && rec.ProductID == r.ProductID && rec.Qty == r.Qty:
			out = Released
			if qty, exists := stock[rec.ProductID]; exists { // a deleted product has nothing to take back
				stock[rec.ProductID] = qty + rec.Qty
				changed[rec.ProductID] = true
			}
			rec.Outcome = Released
			records[key] = rec
			if _, isNew := d.New[key]; isNew {
				d.New[key] = rec
			} else {
				d.Released = append(d.Released, key)
			}
		case r.Release:
			out = NothingToRelease
		}
		d.Results[i] = StockResult{Request: r, Outcome: out}
	}
	d.Changed = slices.Sorted(maps.Keys(changed))
	return d
}
