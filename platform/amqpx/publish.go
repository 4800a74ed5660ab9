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
	key       string
	mandatory bool
	msg       amqp.Publishing
}

// returnBuffer bounds the unroutable messages one batch can have returned: the library's reader
// blocks on a full return channel, and with it the confirms a batch waits for, so batches are
// sent in chunks of at most this many messages.
const returnBuffer = 1024

// ErrUnroutable is wrapped by Publish's error when a message of a Config.MustRoute key reached no
// queue: the broker returned it instead of delivering it.
var ErrUnroutable = errors.New("unroutable")

// Publish sends msgs (persistent, application/json; mandatory when Config.MustRoute says so)
// and returns nil only when the broker confirmed every one of them and returned none as
// unroutable. Any nack, a returned message, a lost channel or connection, or ctx ending first is
// an error, and then any subset of the batch may have been delivered: the caller retries the
// whole batch and consumers deduplicate. Safe for concurrent use; batches go one at a time.
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
		mandatory := c.cfg.MustRoute != nil && c.cfg.MustRoute(m.RoutingKey)
		out = append(out, outgoing{key: m.RoutingKey, mandatory: mandatory, msg: amqp.Publishing{
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

// publishConfirmed sends out in chunks of at most returnBuffer messages, one batch at a time.
func (c *Conn) publishConfirmed(ctx context.Context, exchange string, out []outgoing) error {
	c.batchMu.Lock()
	defer c.batchMu.Unlock()
	for len(out) > 0 {
		n := min(len(out), returnBuffer)
		if err := c.publishChunk(ctx, exchange, out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// publishChunk sends all of out before waiting, so a chunk costs one round trip, then waits for
// every confirm. The library resolves pending confirms as nacks when the channel dies, so a
// connection loss surfaces here as an error rather than a hang. The broker sends a mandatory
// message's return before its confirm, and the library hands the return over before it resolves
// the confirm, so once every confirm is in, every return of this chunk is in the return channel.
func (c *Conn) publishChunk(ctx context.Context, exchange string, out []outgoing) error {
	ch, closed, returns, sock, err := c.publishChannel()
	if err != nil {
		return err
	}
	// Returns of an earlier chunk that gave up waiting are not this chunk's. (The library
	// closes the channel when the AMQP channel dies: a closed one is drained too.)
	for drained := false; !drained; {
		select {
		case _, open := <-returns:
			drained = !open
		default:
			drained = true
		}
	}
	pending := make([]*amqp.DeferredConfirmation, 0, len(out))
	sock.cork() // the whole chunk in one write
	for _, o := range out {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, o.key, o.mandatory, false, o.msg)
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
	return unroutable(out, returns)
}

// unroutable reports the messages of out that the broker returned, without waiting.
func unroutable(out []outgoing, returns <-chan amqp.Return) error {
	var ids map[string]bool
	var n int
	var first amqp.Return
drain:
	for {
		select {
		case r, open := <-returns:
			if !open {
				break drain // the channel died; its confirms said so already
			}
			if ids == nil {
				ids = make(map[string]bool, len(out))
				for _, o := range out {
					if o.mandatory {
						ids[o.msg.MessageId] = true
					}
				}
			}
			if ids[r.MessageId] { // not a late return of an earlier chunk
				if n == 0 {
					first = r
				}
				n++
			}
		default:
			break drain
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d message(s) %w: no queue is bound to routing key %q on exchange %q (%d %s); they count as not published",
		n, len(out), ErrUnroutable, first.RoutingKey, first.Exchange, first.ReplyCode, first.ReplyText)
}

// publishChannel returns the confirm-mode channel of the current connection and the channel
// that reports its closing, opening it on first use after every (re)connect or after the broker
// closed it (e.g. an unknown exchange, a refused routing key).
func (c *Conn) publishChannel() (*amqp.Channel, chan *amqp.Error, chan amqp.Return, *corkConn, error) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	conn, err := c.current()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c.mu.Lock()
	sock := c.sock
	c.mu.Unlock()
	if c.pub != nil && c.pubConn == conn && !c.pub.IsClosed() {
		return c.pub, c.pubClosed, c.pubReturns, sock, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("open publish channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		if cerr := ch.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		return nil, nil, nil, nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	c.pub, c.pubConn, c.pubClosed = ch, conn, ch.NotifyClose(make(chan *amqp.Error, 1))
	c.pubReturns = ch.NotifyReturn(make(chan amqp.Return, returnBuffer))
	return ch, c.pubClosed, c.pubReturns, sock, nil
}
