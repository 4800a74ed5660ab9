// Package messaging is order-service's event adapter: it encodes order.created for the outbox,
// translates stock.reserved / stock.rejected into settlements of the ordering.Service, and keeps
// the price cache current from product.updated / product.deleted.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/outbox"
)

// OrderCreated encodes a new order's order.created (mysql.EventEncoder): the original payload's
// fields plus eventId, unitPrice and status.
func OrderCreated(o ordering.Order, eventID, correlationID string) (outbox.Event, error) {
	id, err := uuid.Parse(eventID)
	if err != nil {
		return outbox.Event{}, fmt.Errorf("order.created of order %d: event id: %w", o.ID, err)
	}
	unit := o.UnitPrice
	status := events.OrderCreatedStatusPENDING
	body, err := json.Marshal(events.OrderCreated{
		EventId: &id, OrderId: o.ID, ProductId: o.ProductID, Qty: o.Qty,
		UnitPrice: &unit, TotalPrice: o.TotalPrice, Status: &status, CreatedAt: o.CreatedAt.UTC(),
	})
	if err != nil {
		return outbox.Event{}, fmt.Errorf("encode order.created of order %d: %w", o.ID, err)
	}
	return outbox.Event{ID: eventID, RoutingKey: events.KeyOrderCreated, Payload: body, CorrelationID: correlationID}, nil
}

// Settler applies stock results (ordering.Service).
type Settler interface {
	Settle(ctx context.Context, s ordering.Settlement) (ordering.Settled, error)
}

// StockResults settles orders from product-service's answers.
type StockResults struct {
	Orders Settler
	Log    *slog.Logger
}

// Handle is the amqpx handler of stock.reserved and stock.rejected.
func (h *StockResults) Handle(ctx context.Context, d amqpx.Delivery) error {
	if d.CorrelationID != "" {
		ctx = httpx.WithRequestID(ctx, d.CorrelationID)
	}
	r, err := DecodeStockResult(d.RoutingKey, d.Body)
	if err != nil {
		return err
	}
	s, err := h.Orders.Settle(ctx, ordering.Settlement{OrderID: r.OrderID, ProductID: r.ProductID, Reserved: r.Reserved, Reason: r.Reason})
	if errors.Is(err, ordering.ErrNotFound) {
		return amqpx.Permanent(fmt.Errorf("%s for unknown order %d", d.RoutingKey, r.OrderID))
	}
	if err != nil {
		return fmt.Errorf("settle order %d: %w", r.OrderID, err)
	}
	h.Log.DebugContext(ctx, "order settled", slog.Int64("orderId", r.OrderID), slog.String("status", string(s.Status)),
		slog.Bool("changed", s.Changed), slog.String("event", d.RoutingKey))
	return nil
}

// StockResult is a decoded stock.reserved or stock.rejected.
type StockResult struct {
	OrderID, ProductID int64
	Reserved           bool
	Reason             string
}

// DecodeStockResult reads a stock result; anything no retry can fix is a permanent error.
func DecodeStockResult(routingKey string, body []byte) (StockResult, error) {
	switch routingKey {
	case events.KeyStockReserved:
		var m events.StockReserved
		if err := json.Unmarshal(body, &m); err != nil || m.OrderId < 1 {
			return StockResult{}, amqpx.Permanent(fmt.Errorf("malformed stock.reserved: %v", err))
		}
		return StockResult{OrderID: m.OrderId, ProductID: m.ProductId, Reserved: true}, nil
	case events.KeyStockRejected:
		var m events.StockRejected
		if err := json.Unmarshal(body, &m); err != nil || m.OrderId < 1 {
			return StockResult{}, amqpx.Permanent(fmt.Errorf("malformed stock.rejected: %v", err))
		}
		return StockResult{OrderID: m.OrderId, ProductID: m.ProductId, Reason: string(m.Reason)}, nil
	default:
		return StockResult{}, amqpx.Permanent(fmt.Errorf("unexpected routing key %q", routingKey))
	}
}

// ProductChanges keeps the price cache current.
type ProductChanges struct {
	Prices *pricing.Cache
	Log    *slog.Logger
}

// Handle is the amqpx handler of product.updated and product.deleted.
func (h *ProductChanges) Handle(ctx context.Context, d amqpx.Delivery) error {
	switch d.RoutingKey {
	case events.KeyProductUpdated:
		var m events.ProductUpdated
		if err := json.Unmarshal(d.Body, &m); err != nil {
			return amqpx.Permanent(fmt.Errorf("malformed product.updated: %w", err))
		}
		h.Prices.Updated(pricing.Entry{Product: ordering.Product{ID: m.ProductId, Price: m.Price, Qty: m.Qty}, UpdatedAt: m.UpdatedAt})
	case events.KeyProductDeleted:
		var m events.ProductDeleted
		if err := json.Unmarshal(d.Body, &m); err != nil {
			return amqpx.Permanent(fmt.Errorf("malformed product.deleted: %w", err))
		}
		h.Prices.Deleted(m.ProductId)
	default:
		return amqpx.Permanent(fmt.Errorf("unexpected routing key %q", d.RoutingKey))
	}
	return nil
}
