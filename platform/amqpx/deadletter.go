package amqpx

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Headers added to a dead-lettered message.
const (
	HeaderDeathReason        = "x-death-reason"         // the handler's error text, ≤ 1 KiB
	HeaderOriginalRoutingKey = "x-original-routing-key" // the key it was published with
	HeaderOriginalExchange   = "x-original-exchange"
	HeaderAttempts           = "x-attempts" // handler calls in the last delivery
)

const maxReasonBytes = 1024

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (e.g. malformed JSON): the consumer sends the
// message straight to the DLQ. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// deadLetter republishes d, with confirm, to the queue dlq via the dead-letter exchange, keeping
// its body, properties and headers and adding why and how often it failed.
func (c *Conn) deadLetter(ctx context.Context, dlq string, d amqp.Delivery, cause error, attempts int) error {
	headers := maps.Clone(d.Headers)
	if headers == nil {
		headers = amqp.Table{}
	}
	headers[HeaderDeathReason] = truncateUTF8(cause.Error(), maxReasonBytes)
	headers[HeaderOriginalRoutingKey] = d.RoutingKey
	headers[HeaderOriginalExchange] = d.Exchange
	headers[HeaderAttempts] = int64(attempts)
	msg := republish(d, headers)
	if err := c.publishConfirmed(ctx, c.cfg.dlx(), []outgoing{{key: dlq, msg: msg}}); err != nil {
		return fmt.Errorf("publish to %q: %w", dlq, err)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
