// Package messaging is order-service's event adapter: it encodes order.created and
// order.cancelled for the outbox, translates stock.results into settlements of the
// ordering.Service, and keeps the price cache current from product.updated / product.deleted.
// Every consumed message is validated against its schema (platform/eventschema) before it
// touches anything; an invalid one is dead-lettered with the reason.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/eventschema"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/tracing"
)

// OrderCreated encodes a new order's order.created (mysql.Events.Created): the original
// payload's fields plus eventId, unitPrice and status.
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

// OrderCancelled returns the encoder of order.cancelled (mysql.Events.Cancelled), stamped by now.
func OrderCancelled(now func() time.Time) func(c ordering.Cancellation) (outbox.Event, error) {
	return func(c ordering.Cancellation) (outbox.Event, error) {
		id := uuid.New()
		m := events.OrderCancelled{EventId: id, OrderId: c.OrderID, ProductId: c.ProductID, Qty: c.Qty,
			Reason: events.OrderCancelledReason(c.Reason), CancelledAt: now().UTC()}
		if c.Token != uuid.Nil {
			token := c.Token
			m.OrderEventId = &token
		}
		body, err := json.Marshal(m)
		if err != nil {
			return outbox.Event{}, fmt.Errorf("encode order.cancelled of order %d: %w", c.OrderID, err)
		}
		return outbox.Event{ID: id.String(), RoutingKey: events.KeyOrderCancelled, Payload: body, CorrelationID: c.CorrelationID}, nil
	}
}

// Settler applies stock results (ordering.Service).
type Settler interface {
	Settle(ctx context.Context, sts []ordering.Settlement) ([]ordering.SettleResult, error)
}

// StockResults settles orders from product-service's stock.results.
type StockResults struct {
	orders  Settler
	schema  *eventschema.Validator
	log     *slog.Logger
	foreign prometheus.Counter
	tracer  trace.Tracer // nil: tracing off
}

// NewStockResults returns the handler; reg may be nil, tp nil is tracing off.
func NewStockResults(orders Settler, schema *eventschema.Validator, log *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) *StockResults {
	h := &StockResults{orders: orders, schema: schema, log: log, foreign: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_stock_results_foreign_total",
		Help: "Stock results for orders that are not order-service's (the original system's payload, without an order event ID): acked and counted.",
	})}
	if reg != nil {
		if err := reg.Register(h.foreign); err != nil {
			log.Warn("stock results metric not registered", slog.String("error", err.Error()))
		}
	}
	if tp != nil {
		h.tracer = tp.Tracer("github.com/shopworks/shop/order-service/internal/messaging")
	}
	return h
}

// Decode reads a stock.results into the settlements of this service's orders and the number of
// results for orders that are not its own (without an order event ID).
func (h *StockResults) Decode(routingKey string, body []byte) ([]ordering.Settlement, int, error) {
	if routingKey != events.KeyStockResults {
		return nil, 0, amqpx.Permanent(fmt.Errorf("unexpected routing key %q", routingKey))
	}
	var m events.StockResults
	if err := h.schema.Decode(body, &m); err != nil {
		return nil, 0, amqpx.Permanent(err)
	}
	sts := make([]ordering.Settlement, 0, len(m.Results))
	foreign := 0
	for _, r := range m.Results {
		if r.OrderEventId == nil || *r.OrderEventId == uuid.Nil {
			foreign++
			continue
		}
		st := ordering.Settlement{OrderID: r.OrderId, ProductID: r.ProductId, Qty: r.Qty, Token: *r.OrderEventId, Reserved: r.Outcome == events.StockResultOutcomeRESERVED}
		if r.Traceparent != nil {
			st.Traceparent = *r.Traceparent
		}
		if !st.Reserved {
			st.Reason = string(r.Outcome)
		}
		sts = append(sts, st)
	}
	return sts, foreign, nil
}

// Handle is the amqpx handler of stock.results.
func (h *StockResults) Handle(ctx context.Context, d amqpx.Delivery) error {
	if d.CorrelationID != "" {
		ctx = requestid.NewContext(ctx, d.CorrelationID)
	}
	sts, foreign, err := h.Decode(d.RoutingKey, d.Body)
	if err != nil {
		h.log.WarnContext(ctx, "invalid stock results", slog.String("messageId", d.MessageID), slog.String("error", err.Error()))
		return err
	}
	h.foreign.Add(float64(foreign))
	if len(sts) == 0 {
		return nil
	}
	var start time.Time
	if h.tracer != nil {
		start = time.Now()
	}
	res, err := h.orders.Settle(ctx, sts)
	if h.tracer != nil {
		h.traceSettlements(ctx, start, sts, res, err)
	}
	if err != nil {
		return fmt.Errorf("settle %d orders: %w", len(sts), err)
	}
	for i, r := range res {
		if errors.Is(r.Err, ordering.ErrNotFound) {
			h.log.WarnContext(ctx, "stock result for an order this service does not have; its reservation is given back",
				slog.Int64("orderId", sts[i].OrderID), slog.String("orderEventId", sts[i].Token.String()), slog.Bool("reserved", sts[i].Reserved))
		}
	}
	return nil
}

// traceSettlements gives each settled order a span in the order's own trace: the child of the
// context product-service decided it in (carried per result, since one stock.results answers
// many orders), linked to this delivery's span, from the start of the settlement to its end.
func (h *StockResults) traceSettlements(ctx context.Context, start time.Time, sts []ordering.Settlement, res []ordering.SettleResult, err error) {
	delivery := trace.Link{SpanContext: trace.SpanContextFromContext(ctx)}
	for i, st := range sts {
		parent, ok := tracing.Parse(st.Traceparent)
		if !ok {
			continue
		}
		attrs := []attribute.KeyValue{attribute.Int64("order.id", st.OrderID), attribute.Bool("stock.reserved", st.Reserved)}
		_, span := h.tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "settle order",
			trace.WithTimestamp(start), trace.WithLinks(delivery), trace.WithAttributes(attrs...))
		switch {
		case err != nil:
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		case i < len(res) && res[i].Err != nil:
			span.RecordError(res[i].Err)
			span.SetStatus(codes.Error, res[i].Err.Error())
		case i < len(res):
			span.SetAttributes(attribute.String("order.status", string(res[i].Status)), attribute.Bool("order.changed", res[i].Changed))
		}
		span.End()
	}
}

// ProductChanges keeps the price cache current.
type ProductChanges struct {
	Prices *pricing.Cache
	Schema *eventschema.Validator
	Log    *slog.Logger
}

// Handle is the amqpx handler of product.updated and product.deleted.
func (h *ProductChanges) Handle(ctx context.Context, d amqpx.Delivery) error {
	switch d.RoutingKey {
	case events.KeyProductUpdated:
		var m events.ProductUpdated
		if err := h.Schema.Decode(d.Body, &m); err != nil {
			return amqpx.Permanent(err)
		}
		h.Prices.Updated(pricing.Entry{Product: ordering.Product{ID: m.ProductId, Price: m.Price, Qty: m.Qty}, UpdatedAt: m.UpdatedAt})
	case events.KeyProductDeleted:
		var m events.ProductDeleted
		if err := h.Schema.Decode(d.Body, &m); err != nil {
			return amqpx.Permanent(err)
		}
		h.Prices.Deleted(m.ProductId)
	default:
		return amqpx.Permanent(fmt.Errorf("unexpected routing key %q", d.RoutingKey))
	}
	return nil
}
