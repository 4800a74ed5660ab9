package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// BrokerBaseline is what the broker alone sustains on the saga's path.
type BrokerBaseline struct {
	Queue               string // the scratch queue, deleted before MeasureBroker returns
	Published, Consumed int
	Duration            time.Duration
}

// Rate is consumed messages per second.
func (b BrokerBaseline) Rate() float64 {
	if b.Duration <= 0 {
		return 0
	}
	return float64(b.Consumed) / b.Duration.Seconds()
}

// brokerBatch is how many messages are published before waiting for their confirms: what the
// services' outbox relays do, and large enough that the client is never the limit.
const brokerBatch = 100

// MeasureBroker measures the raw rate of the broker on the path every order takes twice
// (order.created, then stock.reserved): persistent messages published with confirms into a
// durable quorum queue and consumed with manual acks, as fast as the broker allows, for d.
// It uses a queue of its own named after prefix and deletes it afterwards.
func MeasureBroker(ctx context.Context, url, prefix string, d time.Duration) (BrokerBaseline, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return BrokerBaseline{}, fmt.Errorf("connect to RabbitMQ: %w", err)
	}
	defer conn.Close()
	admin, err := conn.Channel()
	if err != nil {
		return BrokerBaseline{}, fmt.Errorf("open channel: %w", err)
	}
	queue := fmt.Sprintf("%sloadrunner-baseline-%d", prefix, time.Now().UnixNano())
	if _, err := admin.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return BrokerBaseline{}, fmt.Errorf("declare scratch queue: %w", err)
	}
	defer func() { _, _ = admin.QueueDelete(queue, false, false, false) }()
	out := BrokerBaseline{Queue: queue}

	consumer, err := conn.Channel()
	if err != nil {
		return out, fmt.Errorf("open consumer channel: %w", err)
	}
	if err := consumer.Qos(2*brokerBatch, 0, false); err != nil {
		return out, fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := consumer.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return out, fmt.Errorf("consume scratch queue: %w", err)
	}
	var consumed atomic.Int64
	var stopCounting atomic.Bool
	ackErr := make(chan error, 1)
	go func() {
		for dv := range deliveries {
			if err := dv.Ack(false); err != nil {
				ackErr <- err
				return
			}
			if !stopCounting.Load() {
				consumed.Add(1)
			}
		}
	}()

	publisher, err := conn.Channel()
	if err != nil {
		return out, fmt.Errorf("open publish channel: %w", err)
	}
	if err := publisher.Confirm(false); err != nil {
		return out, fmt.Errorf("enable confirms: %w", err)
	}
	body := []byte(`{"eventId":"0b9d1f0e-7a57-4c69-9d57-0c5f3b3b9b1a","orderId":1,"productId":1,"qty":1,` +
		`"unitPrice":"10.00","totalPrice":"10.00","status":"PENDING","createdAt":"2026-01-01T00:00:00Z"}`)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		pending := make([]*amqp.DeferredConfirmation, 0, brokerBatch)
		for range brokerBatch {
			dc, err := publisher.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent, Type: "order.created", Body: body})
			if err != nil {
				return out, fmt.Errorf("publish: %w", err)
			}
			pending = append(pending, dc)
		}
		for _, dc := range pending {
			ok, err := dc.WaitContext(ctx)
			if err != nil {
				return out, fmt.Errorf("wait for confirm: %w", err)
			}
			if !ok {
				return out, errors.New("broker nacked a publish")
			}
		}
		out.Published += brokerBatch
		select {
		case err := <-ackErr:
			return out, fmt.Errorf("ack: %w", err)
		default:
		}
	}
	stopCounting.Store(true)
	out.Duration = time.Since(start)
	out.Consumed = int(consumed.Load())
	return out, ctx.Err()
}
