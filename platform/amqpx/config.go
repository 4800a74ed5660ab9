package amqpx

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Config says where the broker is and which exchange the services share.
type Config struct {
	// URL is the AMQP URI, e.g. amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// Exchange is the topic exchange events are published to, e.g. "orders".
	Exchange string
	// ConnectionName is shown in the RabbitMQ management UI (e.g. "order-service@host").
	ConnectionName string
	// DialTimeout bounds the TCP dial plus the AMQP handshake of one attempt. Default 5 s.
	DialTimeout time.Duration
	// MustRoute says which routing keys Publish sends mandatory: a message of such a key that
	// the broker cannot route to any queue is not published (Publish fails, the caller retries)
	// instead of silently dropped. Nil: none.
	MustRoute func(routingKey string) bool
	// TracerProvider, when not nil, gives every delivery a consumer span, the child of the
	// message's traceparent header. Nil is tracing off: no span, no header is read.
	TracerProvider trace.TracerProvider
}

const (
	defaultDialTimeout = 5 * time.Second
	// heartbeat makes a silently dead TCP connection (no RST, e.g. a vanished node) visible
	// within two intervals instead of at the next OS keepalive.
	heartbeat = 10 * time.Second
	// minBackoff and maxBackoff bound the reconnect and consumer-restart delays.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func (c Config) normalize() (Config, error) {
	if c.URL == "" {
		return c, errors.New("amqpx: Config.URL is empty")
	}
	if _, err := url.Parse(c.URL); err != nil {
		return c, fmt.Errorf("amqpx: Config.URL is not a URL: %w", redactErr(err))
	}
	if c.Exchange == "" {
		return c, errors.New("amqpx: Config.Exchange is empty")
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultDialTimeout
	}
	return c, nil
}

// dlx is the dead-letter exchange of the configured exchange.
func (c Config) dlx() string { return c.Exchange + ".dlx" }

// redactedURL returns the URL with the password masked, for logs and errors.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// redactErr hides the URL text that url.Parse errors echo back, since it may hold a password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
