package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/product-service/internal/catalog"
)

// Reserver decides stock reservations (catalog.Service).
type Reserver interface {
	Reserve(ctx context.Context, req catalog.ReservationRequest) (catalog.ReservationResult, error)
}

// OrderCreatedHandler translates each order.created into a reservation of the catalog.Service.
type OrderCreatedHandler struct {
	stock Reserver
	log   *slog.Logger
}

// NewOrderCreatedHandler returns the handler.
func NewOrderCreatedHandler(stock Reserver, log *slog.Logger) *OrderCreatedHandler {
	return &OrderCreatedHandler{stock: stock, log: log}
}

// DecodeOrderCreated reads an order.created body: the original payload (orderId, productId, qty,
// totalPrice, createdAt) or ours (plus eventId, unitPrice, status). A body no retry can fix is a
// permanent error, which sends the message to the dead-letter queue.
func DecodeOrderCreated(body []byte) (catalog.ReservationRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return catalog.ReservationRequest{}, amqpx.Permanent(fmt.Errorf("order.created is not a JSON object: %w", err))
	}
	for _, f := range []string{"orderId", "productId", "qty"} {
		if _, ok := raw[f]; !ok {
			return catalog.ReservationRequest{}, amqpx.Permanent(fmt.Errorf("order.created without %s", f))
		}
	}
	var msg events.OrderCreated
	if err := json.Unmarshal(body, &msg); err != nil {
		return catalog.ReservationRequest{}, amqpx.Permanent(fmt.Errorf("decode order.created: %w", err))
	}
	req := catalog.ReservationRequest{OrderID: msg.OrderId, ProductID: msg.ProductId, Qty: msg.Qty}
	if err := req.Validate(); err != nil {
		return catalog.ReservationRequest{}, amqpx.Permanent(err)
	}
	return req, nil
}

// Handle is the amqpx handler.
func (h *OrderCreatedHandler) Handle(ctx context.Context, d amqpx.Delivery) error {
	if d.CorrelationID != "" {
		ctx = httpx.WithRequestID(ctx, d.CorrelationID)
	}
	req, err := DecodeOrderCreated(d.Body)
	if err != nil {
		h.log.WarnContext(ctx, "malformed order.created", slog.String("messageId", d.MessageID), slog.String("error", err.Error()))
		return err
	}
	req.CorrelationID = d.CorrelationID
	res, err := h.stock.Reserve(ctx, req)
	if err != nil {
		var ve *catalog.ValidationError
		if errors.As(err, &ve) {
			return amqpx.Permanent(err)
		}
		return fmt.Errorf("reserve stock for order %d: %w", req.OrderID, err)
	}
	h.log.DebugContext(ctx, "order.created processed",
		slog.Int64("orderId", req.OrderID), slog.Int64("productId", req.ProductID),
		slog.Int("qty", int(req.Qty)), slog.String("outcome", string(res.Outcome)), slog.Bool("redelivered", d.Redelivered))
	return nil
}
