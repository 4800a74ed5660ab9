// Package messaging is product-service's event adapter: it builds the events of api/events.yaml
// (product.updated, product.deleted, stock.reserved, stock.rejected) for the outbox, and consumes
// order.created to reserve stock exactly once.
package messaging

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/product-service/internal/catalog"
)

// Routing keys of the events this service publishes and consumes.
const (
	KeyOrderCreated   = "order.created"
	KeyStockReserved  = "stock.reserved"
	KeyStockRejected  = "stock.rejected"
	KeyProductUpdated = "product.updated"
	KeyProductDeleted = "product.deleted"
)

func event(key, correlationID string, payload func(id uuid.UUID) any) (outbox.Event, error) {
	id := uuid.New()
	body, err := json.Marshal(payload(id))
	if err != nil {
		return outbox.Event{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return outbox.Event{ID: id.String(), RoutingKey: key, Payload: body, CorrelationID: correlationID}, nil
}

func productUpdated(p catalog.Product, correlationID string) (outbox.Event, error) {
	return event(KeyProductUpdated, correlationID, func(id uuid.UUID) any {
		return events.ProductUpdated{EventId: id, ProductId: p.ID, Name: p.Name, Price: p.Price, Qty: p.Qty, UpdatedAt: p.UpdatedAt.UTC()}
	})
}

// ProductUpdated returns the outbox builder for a created or changed product.
func ProductUpdated(correlationID string) func(catalog.Product) ([]outbox.Event, error) {
	return func(p catalog.Product) ([]outbox.Event, error) {
		e, err := productUpdated(p, correlationID)
		return []outbox.Event{e}, err
	}
}

// ProductDeleted returns the outbox builder for a deleted product.
func ProductDeleted(correlationID string, now func() time.Time) func(catalog.Product) ([]outbox.Event, error) {
	return func(p catalog.Product) ([]outbox.Event, error) {
		e, err := event(KeyProductDeleted, correlationID, func(id uuid.UUID) any {
			return events.ProductDeleted{EventId: id, ProductId: p.ID, DeletedAt: now().UTC()}
		})
		return []outbox.Event{e}, err
	}
}

// ReservationEvents returns the outbox builder for a decided reservation: stock.reserved plus
// product.updated (the stock changed), or stock.rejected with its reason.
func ReservationEvents(correlationID string, now func() time.Time) func(catalog.ReservationResult) ([]outbox.Event, error) {
	return func(r catalog.ReservationResult) ([]outbox.Event, error) {
		req := r.Request
		switch r.Outcome {
		case catalog.Reserved:
			// No product.updated per reservation: the price caches need prices, not every stock
			// move; their stock figure is only the fast pre-check (the saga is authoritative).
			reserved, err := event(KeyStockReserved, correlationID, func(id uuid.UUID) any {
				return events.StockReserved{EventId: id, OrderId: req.OrderID, ProductId: req.ProductID, Qty: req.Qty, ReservedAt: now().UTC()}
			})
			return []outbox.Event{reserved}, err
		case catalog.InsufficientStock, catalog.ProductMissing:
			rejected, err := event(KeyStockRejected, correlationID, func(id uuid.UUID) any {
				return events.StockRejected{EventId: id, OrderId: req.OrderID, ProductId: req.ProductID, Qty: req.Qty,
					Reason: events.StockRejectedReason(r.Outcome), RejectedAt: now().UTC()}
			})
			return []outbox.Event{rejected}, err
		default:
			return nil, nil
		}
	}
}
