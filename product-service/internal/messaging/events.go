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

func event(key, correlationID string, payload func(id uuid.UUID) any) (outbox.Event, error) {
	id := uuid.New()
	body, err := json.Marshal(payload(id))
	if err != nil {
		return outbox.Event{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return outbox.Event{ID: id.String(), RoutingKey: key, Payload: body, CorrelationID: correlationID}, nil
}

// ProductUpdated encodes product.updated of a stored product (mysql.Events.Updated).
func ProductUpdated(p catalog.Product, correlationID string) (outbox.Event, error) {
	return event(events.KeyProductUpdated, correlationID, func(id uuid.UUID) any {
		return events.ProductUpdated{EventId: id, ProductId: p.ID, Name: p.Name, Price: p.Price, Qty: p.Qty, UpdatedAt: p.UpdatedAt.UTC()}
	})
}

// ProductDeleted returns the encoder of product.deleted (mysql.Events.Deleted), stamped by now.
func ProductDeleted(now func() time.Time) func(p catalog.Product, correlationID string) (outbox.Event, error) {
	return func(p catalog.Product, correlationID string) (outbox.Event, error) {
		return event(events.KeyProductDeleted, correlationID, func(id uuid.UUID) any {
			return events.ProductDeleted{EventId: id, ProductId: p.ID, DeletedAt: now().UTC()}
		})
	}
}

// StockResult returns the encoder of a decided reservation's stock.reserved or stock.rejected
// (mysql.Events.Reserved), stamped by now and carrying the order's correlation ID.
func StockResult(now func() time.Time) func(r catalog.ReservationResult) (outbox.Event, error) {
	return func(r catalog.ReservationResult) (outbox.Event, error) {
		req := r.Request
		switch r.Outcome {
		case catalog.Reserved:
			return event(events.KeyStockReserved, req.CorrelationID, func(id uuid.UUID) any {
				return events.StockReserved{EventId: id, OrderId: req.OrderID, ProductId: req.ProductID, Qty: req.Qty, ReservedAt: now().UTC()}
			})
		case catalog.InsufficientStock, catalog.ProductMissing:
			return event(events.KeyStockRejected, req.CorrelationID, func(id uuid.UUID) any {
				return events.StockRejected{EventId: id, OrderId: req.OrderID, ProductId: req.ProductID, Qty: req.Qty,
					Reason: events.RejectReason(r.Outcome), RejectedAt: now().UTC()}
			})
		}
		return outbox.Event{}, fmt.Errorf("no stock event for outcome %q of order %d", r.Outcome, req.OrderID)
	}
}
