package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/eventschema"
	"github.com/shopworks/shop/platform/tracing"
	"github.com/shopworks/shop/product-service/internal/catalog"
)

// Stock applies stock requests (catalog.Service).
type Stock interface {
	ChangeStock(ctx context.Context, req catalog.StockRequest) (catalog.StockResult, error)
}

// OrderEvents translates order.created into a reservation and order.cancelled into giving a
// reservation back, both through the catalog.Service. Every message is validated against its
// schema before anything else; an invalid one is dead-lettered with the reason.
type OrderEvents struct {
	stock  Stock
	schema *eventschema.Validator
	log    *slog.Logger
}

// NewOrderEvents returns the handler.
func NewOrderEvents(stock Stock, schema *eventschema.Validator, log *slog.Logger) *OrderEvents {
	return &OrderEvents{stock: stock, schema: schema, log: log}
}

// Decode reads an order event into a stock request. order.created may be ours (with eventId,
// unitPrice, status) or the original system's payload (orderId, productId, qty, totalPrice,
// createdAt; its total a float, OriginalOrderCreated); the two are told apart by eventId. A body no retry can fix is a permanent error,
// which sends the message to the dead-letter queue.
func (h *OrderEvents) Decode(routingKey string, body []byte) (catalog.StockRequest, error) {
	var req catalog.StockRequest
	switch routingKey {
	case events.KeyOrderCreated:
		var m events.OrderCreated
		if err := h.schema.Decode(body, &m); err != nil {
			// The original order-service's own payload, whose float total (0.44999999999999996)
			// is no TotalMoney. It has exactly five fields, so no message of ours passes here.
			var o events.OriginalOrderCreated
			if h.schema.Decode(body, &o) != nil {
				return req, amqpx.Permanent(err)
			}
			m = events.OrderCreated{OrderId: o.OrderId, ProductId: o.ProductId, Qty: o.Qty}
		}
		req = catalog.StockRequest{OrderID: m.OrderId, ProductID: m.ProductId, Qty: m.Qty}
		if m.EventId != nil {
			req.OrderEventID = m.EventId.String()
		}
	case events.KeyOrderCancelled:
		var m events.OrderCancelled
		if err := h.schema.Decode(body, &m); err != nil {
			return req, amqpx.Permanent(err)
		}
		req = catalog.StockRequest{Release: true, OrderID: m.OrderId, ProductID: m.ProductId, Qty: m.Qty}
		if m.OrderEventId != nil {
			req.OrderEventID = m.OrderEventId.String()
		}
	default:
		return req, amqpx.Permanent(fmt.Errorf("unexpected routing key %q", routingKey))
	}
	if err := req.Validate(); err != nil {
		return req, amqpx.Permanent(err)
	}
	return req, nil
}

// Handle is the amqpx handler of the order events.
func (h *OrderEvents) Handle(ctx context.Context, d amqpx.Delivery) error {
	if d.CorrelationID != "" {
		ctx = requestid.NewContext(ctx, d.CorrelationID)
	}
	req, err := h.Decode(d.RoutingKey, d.Body)
	if err != nil {
		h.log.WarnContext(ctx, "invalid order event", slog.String("routingKey", d.RoutingKey), slog.String("messageId", d.MessageID), slog.String("error", err.Error()))
		return err
	}
	req.CorrelationID, req.Traceparent = d.CorrelationID, tracing.Traceparent(ctx)
	res, err := h.stock.ChangeStock(ctx, req)
	if err != nil {
		var ve *catalog.ValidationError
		if errors.As(err, &ve) {
			return amqpx.Permanent(err)
		}
		return fmt.Errorf("%s for order %d: %w", d.RoutingKey, req.OrderID, err)
	}
	h.log.DebugContext(ctx, "order event applied", slog.String("routingKey", d.RoutingKey),
		slog.Int64("orderId", req.OrderID), slog.Int64("productId", req.ProductID),
		slog.Int("qty", int(req.Qty)), slog.String("outcome", string(res.Outcome)), slog.Bool("redelivered", d.Redelivered))
	return nil
}
