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

// StockResults returns the encoder of one transaction's decided reservations (mysql.Events.Results),
// stamped by now. The message's correlation ID is the request ID of its first order.
func StockResults(now func() time.Time) func(rs []catalog.StockResult) (outbox.Event, error) {
	return func(rs []catalog.StockResult) (outbox.Event, error) {
		if len(rs) == 0 {
			return outbox.Event{}, fmt.Errorf("stock.results without results")
		}
		results := make([]events.StockResult, len(rs))
		for i, r := range rs {
			req := r.Request
			results[i] = events.StockResult{OrderId: req.OrderID, ProductId: req.ProductID, Qty: req.Qty, Outcome: events.StockResultOutcome(r.Outcome)}
			if req.OrderEventID != "" {
				id, err := uuid.Parse(req.OrderEventID)
				if err != nil {
					return outbox.Event{}, fmt.Errorf("stock result of order %d: order event id: %w", req.OrderID, err)
				}
				results[i].OrderEventId = &id
			}
			if req.Traceparent != "" {
				tp := req.Traceparent
				results[i].Traceparent = &tp
			}
		}
		return event(events.KeyStockResults, rs[0].Request.CorrelationID, func(id uuid.UUID) any {
			return events.StockResults{EventId: id, Results: results, DecidedAt: now().UTC()}
		})
	}
}
