// Package ordering is order-service's domain and application layer. The domain: what an order
// is, how it is priced (exactly, in cents), which status changes the stock saga may make, and
// what an idempotent retry must match. The application layer (Service): each use case — place an
// order, read orders, settle a stock result — over small ports (Store, PriceSource, PageCache,
// Invalidator, Notifier) that mysql, pricing, rediscache and the platform adapt. It has no I/O of
// its own; httpapi and messaging only translate wire types to calls of the Service.
package ordering

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shopworks/shop/clients/money"
)

// Status is where an order is in the stock saga.
type Status string

// The saga's statuses: PENDING until product-service reserved the stock or could not; a client
// may cancel a PENDING or CONFIRMED order, which gives its stock back.
const (
	Pending   Status = "PENDING"
	Confirmed Status = "CONFIRMED"
	Rejected  Status = "REJECTED"
	Cancelled Status = "CANCELLED"
)

// Errors the HTTP layer maps to problems.
var (
	ErrNotFound                  = errors.New("order not found")
	ErrProductNotFound           = errors.New("product not found")
	ErrProductServiceUnavailable = errors.New("product-service unavailable")
	ErrIdempotencyKeyReused      = errors.New("idempotency key reused with a different request")
	ErrIdempotencyKeyInUse       = errors.New("a request with this idempotency key is still being processed")
	// ErrNotCancellable: a REJECTED order has no stock to give back and cannot be cancelled.
	ErrNotCancellable = errors.New("a rejected order cannot be cancelled")
	// ErrOutcomeUnknown: the database did not confirm or deny a commit in time (the connection
	// was lost or frozen after COMMIT was sent); the order may or may not be stored.
	ErrOutcomeUnknown = errors.New("the database did not confirm whether the order was stored")
	// ErrKeyTaken is the Store's answer when an order's idempotency key was recorded by another
	// request meanwhile; nothing of the batch was stored.
	ErrKeyTaken = errors.New("idempotency key already recorded")
)

// InsufficientStockError says the known stock cannot cover the order (the fast pre-check).
type InsufficientStockError struct {
	ProductID int64
	Available int32
	Requested int32
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("product %d has %d in stock; %d were ordered", e.ProductID, e.Available, e.Requested)
}

// Order is a placed order.
type Order struct {
	ID int64
	// Token identifies the order in the saga's events (the eventId of its order.created); zero
	// for orders stored before tokens existed.
	Token        uuid.UUID
	ProductID    int64
	Qty          int32
	UnitPrice    money.Amount
	TotalPrice   money.Amount
	Status       Status
	RejectReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Product is what ordering needs to know of a product: its price and its last known stock.
type Product struct {
	ID    int64
	Price money.Amount
	Qty   int32
}

// Request is a client's order.
type Request struct {
	ProductID int64
	Qty       int32
}

// MaxQty bounds one order's quantity.
const MaxQty = 10000

// Price checks the request against the product and returns the new PENDING order's amounts.
func Price(req Request, p Product) (Order, error) {
	if req.Qty < 1 || req.Qty > MaxQty {
		return Order{}, fmt.Errorf("qty %d outside 1..%d", req.Qty, MaxQty)
	}
	if req.Qty > p.Qty {
		return Order{}, &InsufficientStockError{ProductID: p.ID, Available: p.Qty, Requested: req.Qty}
	}
	total, err := p.Price.Times(int64(req.Qty))
	if err != nil {
		return Order{}, fmt.Errorf("price order of product %d: %w", p.ID, err)
	}
	return Order{ProductID: p.ID, Qty: req.Qty, UnitPrice: p.Price, TotalPrice: total, Status: Pending}, nil
}

// Fingerprint identifies a request body for idempotency: the same key must come with the same
// fingerprint to be a retry.
func (r Request) Fingerprint() string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(r.ProductID, 10) + ":" + strconv.FormatInt(int64(r.Qty), 10)))
	return hex.EncodeToString(sum[:])
}

// AsFirstAnswered is the order as POST /orders first answered it (PENDING, never updated): what a
// replay of the same Idempotency-Key answers again, whatever the saga did since.
func (o Order) AsFirstAnswered() Order {
	o.Status, o.RejectReason, o.UpdatedAt = Pending, "", o.CreatedAt
	return o
}

// KeyRecord is what an Idempotency-Key remembers: the request it came with and the order it made.
type KeyRecord struct {
	Fingerprint string
	Order       Order
	CreatedAt   time.Time
}

// Expired says whether the key is past its lifetime and may be used afresh.
func (k KeyRecord) Expired(now time.Time, ttl time.Duration) bool { return now.Sub(k.CreatedAt) >= ttl }

// Settlement is a stock result to apply to an order.
type Settlement struct {
	OrderID, ProductID int64
	Qty                int32
	// Token is the order's token as the result names it (the eventId of its order.created): a
	// result settles an order only if the tokens match, so a result that is not for this order —
	// forged, or for an order of another system with the same ID — never settles it.
	Token    uuid.UUID
	Reserved bool
	Reason   string // why stock was rejected; ignored when Reserved
	// Traceparent is the trace context product-service decided the order in (a span of the
	// order's own trace), "" without tracing: the order's settlement is traced as its child.
	Traceparent string
}

// CancelReason says why an order's stock must be given back.
type CancelReason string

// Why stock is given back: a client cancelled the order, or a reservation arrived for an order
// this service does not have (a compensation).
const (
	CancelledByClient CancelReason = "CANCELLED_BY_CLIENT"
	UnknownOrder      CancelReason = "UNKNOWN_ORDER"
)

// Cancellation asks product-service to give an order's reserved stock back (order.cancelled).
type Cancellation struct {
	OrderID       int64
	Token         uuid.UUID // the order's token; zero for orders stored before tokens existed
	ProductID     int64
	Qty           int32
	Reason        CancelReason
	CorrelationID string
}

// Compensation is the cancellation of a reservation made for an order this service does not
// have: the stock comes back. A result that reserved nothing needs none.
func (st Settlement) Compensation() (Cancellation, bool) {
	if !st.Reserved {
		return Cancellation{}, false
	}
	return Cancellation{OrderID: st.OrderID, Token: st.Token, ProductID: st.ProductID, Qty: st.Qty, Reason: UnknownOrder}, true
}

// Settled is the outcome of a Settlement: the order's status now, and whether applying it changed
// the order (false for a redelivered result).
type Settled struct {
	Status  Status
	Changed bool
}

// Settle returns the final status a stock result moves a PENDING order to, and whether the
// order's current status allows it. A final order never changes again (redeliveries are no-ops).
func Settle(current Status, reserved bool) (Status, bool) {
	if current != Pending {
		return current, false
	}
	if reserved {
		return Confirmed, true
	}
	return Rejected, true
}

// Cancel returns the status a cancellation moves an order to and whether it changes the order:
// PENDING and CONFIRMED become CANCELLED; cancelling a CANCELLED order again changes nothing and
// answers the same; a REJECTED order cannot be cancelled.
func Cancel(current Status) (Status, bool, error) {
	switch current {
	case Pending, Confirmed:
		return Cancelled, true, nil
	case Cancelled:
		return Cancelled, false, nil
	}
	return current, false, ErrNotCancellable
}

// Final says whether a status never changes again through the saga (only a client's
// cancellation can still change a CONFIRMED order).
func (s Status) Final() bool { return s != Pending }

// SettlementGroup is the settlements of a batch that set the same final status and reason: one
// set-wise UPDATE each.
type SettlementGroup struct {
	Status   Status
	Reason   string // reject reason; "" for CONFIRMED
	OrderIDs []int64
}

// GroupSettlements groups a batch by target status and reason, in a stable order (confirmed
// first, then rejections by reason), with each group's order IDs ascending so that concurrent
// batches lock rows in the same order.
func GroupSettlements(batch []Settlement) []SettlementGroup {
	type key struct {
		status Status
		reason string
	}
	groups := map[key][]int64{}
	for _, st := range batch {
		k := key{Confirmed, ""}
		if !st.Reserved {
			k = key{Rejected, st.Reason}
		}
		groups[k] = append(groups[k], st.OrderID)
	}
	keys := slices.SortedFunc(maps.Keys(groups), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.status, b.status), cmp.Compare(a.reason, b.reason))
	})
	out := make([]SettlementGroup, 0, len(keys))
	for _, k := range keys {
		ids := groups[k]
		slices.Sort(ids)
		out = append(out, SettlementGroup{Status: k.status, Reason: k.reason, OrderIDs: ids})
	}
	return out
}
