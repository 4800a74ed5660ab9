package amqpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
)

// Handler processes one delivery. Returning nil acks it; an error is retried (unless wrapped
// with Permanent) and finally dead-lettered. ctx is not cancelled by the consumer's shutdown,
// so an in-flight transaction can finish; it ends after ConsumerSpec.HandlerTimeout.
type Handler func(ctx context.Context, d Delivery) error

// Delivery is the part of an AMQP delivery a handler needs, with the properties api/events.yaml
// declares (AMQPProperties).
type Delivery struct {
	RoutingKey    string
	MessageID     string
	CorrelationID string
	ContentType   string
	Type          string
	DeliveryMode  uint8
	Timestamp     time.Time
	Body          []byte
	Headers       map[string]any
	Redelivered   bool
}

// ConsumerSpec describes one consumer; the zero values of the tuning fields mean the defaults.
type ConsumerSpec struct {
	// Queue is the durable queue (quorum, with Queue+".dlq"). Required unless Exclusive.
	Queue string
	// Bindings are the routing keys (topic patterns) bound to the exchange.
	Bindings []string
	// Prefetch is the number of unacked messages the broker hands out. Default max(10, Concurrency).
	Prefetch int
	// MaxAttempts is how often the handler runs before the message is dead-lettered. Default 5.
	MaxAttempts int
	// Backoff is the delay before the first retry; it doubles after each. Default 100 ms.
	Backoff time.Duration
	// Exclusive makes a per-replica auto-delete queue (server-named if Queue is empty) for
	// broadcasts such as cache invalidation.
	Exclusive bool
	// DeadLetterQueue is the durable queue where a message goes, with the reason in
	// x-death-reason, once the handler gave up on it. Default Queue+".dlq". Required for an
	// Exclusive consumer: its queue is per replica and vanishes with it, so its dead letters go
	// to one durable queue that the replicas share (e.g. "order-service__product-changes.dlq").
	DeadLetterQueue string
	// Concurrency is the number of goroutines handling deliveries. Default 1.
	Concurrency int
	// HandlerTimeout bounds one handler call. Default 30 s.
	HandlerTimeout time.Duration
}

const (
	defaultPrefetch       = 10
	defaultMaxAttempts    = 5
	defaultBackoff        = 100 * time.Millisecond
	maxRetryDelay         = 30 * time.Second
	defaultHandlerTimeout = 30 * time.Second
	// deadLetterTimeout bounds the confirmed publish of one message to its DLQ.
	deadLetterTimeout = 10 * time.Second
)

func (s ConsumerSpec) normalize() (ConsumerSpec, error) {
	if s.Queue == "" && !s.Exclusive {
		return s, errors.New("amqpx: ConsumerSpec.Queue is required for a durable consumer")
	}
	if len(s.Bindings) == 0 {
		return s, fmt.Errorf("amqpx: consumer %q has no bindings", s.Queue)
	}
	if s.DeadLetterQueue == "" {
		if s.Exclusive {
			return s, errors.New("amqpx: an exclusive consumer needs a DeadLetterQueue shared by its replicas")
		}
		s.DeadLetterQueue = dlqName(s.Queue)
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 1
	}
	if s.Prefetch <= 0 {
		s.Prefetch = max(defaultPrefetch, s.Concurrency)
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = defaultMaxAttempts
	}
	if s.Backoff <= 0 {
		s.Backoff = defaultBackoff
	}
	if s.HandlerTimeout <= 0 {
		s.HandlerTimeout = defaultHandlerTimeout
	}
	s.Bindings = append([]string(nil), s.Bindings...)
	return s, nil
}

// Consume consumes spec's queue with h until ctx is done, re-declaring the topology and
// re-subscribing after every reconnect. It returns nil when ctx is done (after in-flight
// handlers finished and were acked), ErrClosed if the Conn is closed first, and an error if
// the broker refuses the topology on a healthy connection (a configuration error that retrying
// will not fix).
func (c *Conn) Consume(ctx context.Context, spec ConsumerSpec, h Handler) error {
	if h == nil {
		return errors.New("amqpx: Consume: nil handler")
	}
	spec, err := spec.normalize()
	if err != nil {
		return err
	}
	delay := minBackoff
	for {
		conn, err := c.connection(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("amqpx: consume %q: %w", spec.Queue, err)
		}
		subscribed, err := c.consumeOnce(ctx, conn, spec, h)
		if ctx.Err() != nil {
			return nil
		}
		var te topologyError
		if errors.As(err, &te) && !conn.IsClosed() && isBrokerRefusal(err) {
			return fmt.Errorf("amqpx: consume %q: %w", spec.Queue, err)
		}
		if subscribed {
			delay = minBackoff
		}
		c.log.WarnContext(ctx, "consumer stopped; restarting", "queue", spec.Queue, "error", err, "retryIn", delay)
		if !sleepCtx(ctx, jitter(delay)) {
			return nil
		}
		delay = min(2*delay, maxBackoff)
	}
}

// DeclareTopology declares spec's durable queue, its DLQ and the bindings without consuming.
// Publishing is mandatory=false, so a message whose queue does not exist yet is dropped as
// unroutable: services (or a setup step) call this at start for every queue that must not miss
// events published before its consumer first ran. Consume declares the same on every start, and
// it alone migrates a queue whose arguments changed (see migrate.go); DeclareTopology binds such
// a queue as it is.
func (c *Conn) DeclareTopology(spec ConsumerSpec) error {
	if spec.Exclusive {
		return errors.New("amqpx: DeclareTopology: exclusive queues belong to their consumer; Consume declares them")
	}
	spec, err := spec.normalize()
	if err != nil {
		return err
	}
	conn, err := c.current()
	if err != nil {
		return fmt.Errorf("amqpx: declare topology of %q: %w", spec.Queue, err)
	}
	if _, err := declareConsumerTopology(conn, c.cfg, spec, false, c.log); err != nil {
		return fmt.Errorf("amqpx: declare topology of %q: %w", spec.Queue, err)
	}
	return nil
}

// topologyError marks a failure to declare the consumer's queues and bindings.
type topologyError struct{ error }

func (e topologyError) Unwrap() error { return e.error }

// consumeOnce subscribes on conn and handles deliveries until ctx is done or the channel dies.
// subscribed reports whether it got as far as receiving deliveries.
func (c *Conn) consumeOnce(ctx context.Context, conn *amqp.Connection, spec ConsumerSpec, h Handler) (subscribed bool, err error) {
	queue, err := declareConsumerTopology(conn, c.cfg, spec, true, c.log)
	if err != nil {
		return false, topologyError{err}
	}
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open consumer channel: %w", err)
	}
	defer func() {
		// Closing the channel requeues whatever was prefetched but not handled.
		if cerr := ch.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			c.log.WarnContext(ctx, "close consumer channel", "queue", queue, "error", cerr)
		}
	}()
	if err := ch.Qos(spec.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("set prefetch: %w", err)
	}
	tag := consumerTag(c.cfg.ConnectionName, queue)
	deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("subscribe to %q: %w", queue, err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	w := &worker{conn: c, ch: ch, spec: spec, queue: queue, h: h,
		log: c.log.With("queue", queue), tracer: c.tracer}
	w.acks = newAcker(ch, w.log, spec.Prefetch/2, func(n int) { c.m.consumed.WithLabelValues(queue, outcomeOK).Add(float64(n)) })
	var wg sync.WaitGroup
	for range spec.Concurrency {
		wg.Go(func() {
			for d := range deliveries {
				w.handle(ctx, d)
			}
		})
	}
	workersDone := make(chan struct{})
	go func() { wg.Wait(); w.acks.close(); close(workersDone) }()

	c.log.InfoContext(ctx, "consuming", "queue", queue, "bindings", spec.Bindings, "concurrency", spec.Concurrency)
	select {
	case <-ctx.Done():
		// basic.cancel stops new deliveries and closes the deliveries chan once the server
		// confirmed; workers then requeue what was prefetched and finish what they hold.
		if err := ch.Cancel(tag, false); err != nil {
			c.log.WarnContext(ctx, "cancel consumer", "queue", queue, "error", err)
		}
		<-workersDone
		return true, nil
	case <-workersDone:
		// The deliveries chan closed: channel or connection lost, or the queue was deleted.
		select {
		case amqpErr := <-closed:
			if amqpErr != nil {
				return true, fmt.Errorf("consumer channel closed: %w", amqpErr)
			}
			return true, errors.New("consumer channel closed")
		default:
			return true, errors.New("consumer cancelled by the broker")
		}
	}
}

// consumerTag makes a readable, unique tag so the broker UI shows who consumes.
func consumerTag(connName, queue string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	if connName == "" {
		connName = "amqpx"
	}
	return fmt.Sprintf("%s/%s/%s", connName, queue, hex.EncodeToString(b[:]))
}

// worker handles the deliveries of one subscription.
type worker struct {
	conn   *Conn
	ch     *amqp.Channel
	spec   ConsumerSpec
	queue  string
	h      Handler
	log    *slog.Logger
	acks   *acker
	tracer trace.Tracer // nil: tracing off
}

func toDelivery(d amqp.Delivery) Delivery {
	return Delivery{
		RoutingKey:    d.RoutingKey,
		MessageID:     d.MessageId,
		CorrelationID: d.CorrelationId,
		ContentType:   d.ContentType,
		Type:          d.Type,
		DeliveryMode:  d.DeliveryMode,
		Timestamp:     d.Timestamp,
		Body:          d.Body,
		Headers:       maps.Clone(map[string]any(d.Headers)),
		Redelivered:   d.Redelivered,
	}
}
