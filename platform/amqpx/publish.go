package amqpx

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Message is one event to publish on the configured exchange.
type Message struct {
	RoutingKey    string // also sent as the AMQP type property
	MessageID     string // the event ID; consumers deduplicate on it
	CorrelationID string // the request ID that caused the event
	// Traceparent is the W3C trace context of the work that caused the event, sent as the
	// traceparent header; "" sends no header.
	Traceparent string
	Body        []byte // JSON
	Timestamp   time.Time
}

// outgoing is one AMQP publishing with its routing key.
type outgoing struct {
	key string
	msg amqp.Publishing
}

// Publish sends msgs (persistent, application/json, mandatory=false) and returns nil only when
// the broker confirmed every one of them. Any nack, a lost channel or connection, or ctx ending
// first is an error, and then any subset of the batch may have been delivered: the caller
// retries the whole batch and consumers deduplicate. Safe for concurrent use.
func (c *Conn) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]outgoing, 0, len(msgs))
	for i, m := range msgs {
		if m.RoutingKey == "" {
			return fmt.Errorf("amqpx: publish: message %d (id %q) has no routing key", i, m.MessageID)
		}
		ts := m.Timestamp
		if ts.IsZero() {
			ts = time.Now()
		}
		out = append(out, outgoing{key: m.RoutingKey, msg: amqp.Publishing{
			ContentType:   "application/json",
			DeliveryMode:  amqp.Persistent,
			MessageId:     m.MessageID,
			CorrelationId: m.CorrelationID,
			Type:          m.RoutingKey,
			Timestamp:     ts.UTC(),
			Headers:       traceHeaders(m.Traceparent),
			Body:          m.Body,
		}})
	}
	if err := c.publishConfirmed(ctx, c.cfg.Exchange, out); err != nil {
		return fmt.Errorf("amqpx: publish %d message(s) to %q: %w", len(msgs), c.cfg.Exchange, err)
	}
	for _, m := range msgs {
		c.m.published.WithLabelValues(m.RoutingKey).Inc()
	}
	return nil
}

// publishConfirmed sends all of out before waiting, so a batch costs one round trip, then
// waits for every confirm. The library resolves pending confirms as nacks when the channel dies,
// so a connection loss surfaces here as an error rather than a hang.
func (c *Conn) publishConfirmed(ctx context.Context, exchange string, out []outgoing) error {
	ch, closed, sock, err := c.publishChannel()
	if err != nil {
		return err
	}
	pending := make([]*amqp.DeferredConfirmation, 0, len(out))
	sock.cork() // the whole batch in one write
	for _, o := range out {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, o.key, false, false, o.msg)
		if err != nil {
			_ = sock.uncork()
			return fmt.Errorf("send (key %q): %w", o.key, err)
		}
		pending = append(pending, dc)
	}
	if err := sock.uncork(); err != nil {
		return fmt.Errorf("send %d message(s): %w", len(out), err)
	}
	nacked := 0
	for _, dc := range pending {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for confirms: %w", err)
		}
		if !ack {
			nacked++
		}
	}
	if nacked > 0 {
		// A broker that closes the channel says why (e.g. 403 ACCESS_REFUSED when the user's
		// topic permissions do not cover the routing key); the library notifies that before
		// it resolves the pending confirms.
		select {
		case amqpErr := <-closed:
			if amqpErr != nil {
				return fmt.Errorf("%d of %d message(s) not confirmed: channel closed by the broker: %w", nacked, len(out), amqpErr)
			}
		default:
		}
		return fmt.Errorf("%d of %d message(s) not confirmed (nacked, or the channel closed)", nacked, len(out))
	}
	return nil
}

// publishChannel returns the confirm-mode channel of the current connection and the channel
// that reports its closing, opening it on first use after every (re)connect or after the broker
// closed it (e.g. an unknown exchange, a refused routing key).
func (c *Conn) publishChannel() (*amqp.Channel, chan *amqp.Error, *corkConn, error) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	conn, err := c.current()
	if err != nil {
		return nil, nil, nil, err
	}
	c.mu.Lock()
	sock := c.sock
	c.mu.Unlock()
	if c.pub != nil && c.pubConn == conn && !c.pub.IsClosed() {
		return c.pub, c.pubClosed, sock, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open publish channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		if cerr := ch.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		return nil, nil, nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	c.pub, c.pubConn, c.pubClosed = ch, conn, ch.NotifyClose(make(chan *amqp.Error, 1))
	return ch, c.pubClosed, sock, nil
}
