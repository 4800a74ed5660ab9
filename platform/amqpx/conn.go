package amqpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
)

var (
	// ErrNotConnected is returned while the Conn is between connections.
	ErrNotConnected = errors.New("amqpx: not connected to the broker")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("amqpx: connection closed")
)

// Conn is the process's single broker connection; it reconnects by itself. Safe for
// concurrent use.
type Conn struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	tracer trace.Tracer // nil: tracing off

	mu      sync.Mutex
	conn    *amqp.Connection // nil while disconnected
	sock    *corkConn        // conn's socket
	up      chan struct{}    // closed while conn != nil, replaced when the connection is lost
	lastErr error            // why we are not connected, for errors and Ready

	// batchMu lets one batch at a time use the confirm channel, so that the messages the
	// broker returns as unroutable during a batch are that batch's (see publishConfirmed).
	batchMu sync.Mutex
	// pubMu guards the confirm channel used by Publish; pubConn is the connection it lives on,
	// so a channel of a previous connection is never reused.
	pubMu      sync.Mutex
	pub        *amqp.Channel
	pubConn    *amqp.Connection
	pubClosed  chan *amqp.Error // why pub closed, if the broker closed it
	pubReturns chan amqp.Return // mandatory messages the broker could not route

	stop      context.CancelFunc
	done      chan struct{} // closed when the reconnect loop has exited
	closeOnce sync.Once
}

// Dial starts the connection loop and waits until the first connection is established (and the
// exchanges are declared) or ctx is done. The loop keeps running, and reconnecting, until Close.
// log may be nil (no logs); reg may be nil (no metrics).
func Dial(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Conn, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	// The loop outlives ctx, which only bounds the wait for the first connection.
	runCtx, stop := context.WithCancel(context.Background())
	c := &Conn{
		cfg:  cfg,
		log:  log.With("component", "amqp", "exchange", cfg.Exchange),
		m:    m,
		up:   make(chan struct{}),
		stop: stop,
		done: make(chan struct{}),
	}
	if cfg.TracerProvider != nil {
		c.tracer = cfg.TracerProvider.Tracer(instrumentation)
	}
	go c.run(runCtx)
	if _, err := c.connection(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("amqpx: connect to %s: %w", redactedURL(cfg.URL), err)
	}
	return c, nil
}

// Close stops reconnecting and closes the connection. Consumers should be stopped (their ctx
// cancelled) before, so that in-flight messages are acked first. Idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
	})
	return nil
}

// Ready returns nil while the connection is up; it is what /readyz reports.
func (c *Conn) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := c.current()
	return err
}

// current returns the live connection without waiting.
func (c *Conn) current() (*amqp.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn, nil
	}
	select {
	case <-c.done:
		return nil, ErrClosed
	default:
	}
	if c.lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, c.lastErr)
	}
	return nil, ErrNotConnected
}

// connection waits until a connection is up, ctx is done or the Conn is closed.
func (c *Conn) connection(ctx context.Context) (*amqp.Connection, error) {
	for {
		c.mu.Lock()
		conn, up, lastErr := c.conn, c.up, c.lastErr
		c.mu.Unlock()
		if conn != nil && !conn.IsClosed() {
			return conn, nil
		}
		if conn != nil {
			// Closed but the loop has not noticed yet; up is still closed, so do not spin on it.
			up = closedSoon(10 * time.Millisecond)
		}
		select {
		case <-up:
		case <-c.done:
			return nil, ErrClosed
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), lastErr)
			}
			return nil, ctx.Err()
		}
	}
}

// run is the reconnect loop, the only goroutine a Conn owns; Close stops it.
func (c *Conn) run(ctx context.Context) {
	defer close(c.done)
	delay := minBackoff
	connects := 0
	for {
		conn, err := c.connect()
		if err != nil {
			c.setDisconnected(err)
			c.log.WarnContext(ctx, "amqp connect failed; retrying", "error", err, "retryIn", delay)
			if !sleepCtx(ctx, jitter(delay)) {
				return
			}
			delay = min(2*delay, maxBackoff)
			continue
		}
		// Registered before publishing conn, so a close racing us is still seen.
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		connects++
		if connects > 1 {
			c.m.reconnects.Inc()
			c.log.InfoContext(ctx, "amqp reconnected")
		} else {
			c.log.InfoContext(ctx, "amqp connected", "url", redactedURL(c.cfg.URL))
		}
		delay = minBackoff
		c.setConnected(conn)

		select {
		case <-ctx.Done():
			c.setDisconnected(ErrClosed)
			// Bounded: a hung broker must not stall shutdown.
			if err := conn.CloseDeadline(time.Now().Add(c.cfg.DialTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
				c.log.WarnContext(ctx, "amqp close", "error", err)
			}
			return
		case amqpErr := <-closed:
			lost := errors.New("connection lost")
			if amqpErr != nil {
				lost = fmt.Errorf("connection lost: %w", amqpErr)
			}
			c.setDisconnected(lost)
			c.log.WarnContext(ctx, "amqp connection lost; reconnecting", "error", lost)
		}
	}
}

// connect dials once and declares the exchanges every user of this Conn relies on.
func (c *Conn) connect() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	if c.cfg.ConnectionName != "" {
		props.SetClientConnectionName(c.cfg.ConnectionName)
	}
	var sock *corkConn
	dial := amqp.DefaultDial(c.cfg.DialTimeout)
	conn, err := amqp.DialConfig(c.cfg.URL, amqp.Config{
		Heartbeat: heartbeat,
		Locale:    "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			nc, err := dial(network, addr)
			if err != nil {
				return nil, err
			}
			sock = &corkConn{Conn: nc}
			return sock, nil
		},
		Properties: props,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", redactedURL(c.cfg.URL), err)
	}
	c.mu.Lock()
	c.sock = sock // the publisher corks it; set before the connection is handed out
	c.mu.Unlock()
	if err := ensureExchanges(conn, c.cfg); err != nil {
		_ = conn.CloseDeadline(time.Now().Add(c.cfg.DialTimeout))
		return nil, err
	}
	return conn, nil
}

func (c *Conn) setConnected(conn *amqp.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.lastErr = conn, nil
	close(c.up)
	c.m.connected.Set(1)
}

func (c *Conn) setDisconnected(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn = nil
		c.up = make(chan struct{})
	}
	c.lastErr = err
	c.m.connected.Set(0)
}

// withChannel runs fn on a short-lived channel. Declarations get their own channel because a
// refused declaration closes the channel it was sent on.
func withChannel(conn *amqp.Connection, fn func(ch *amqp.Channel) error) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	err = fn(ch)
	if cerr := ch.Close(); cerr != nil && err == nil && !errors.Is(cerr, amqp.ErrClosed) {
		err = fmt.Errorf("close channel: %w", cerr)
	}
	return err
}

// sleepCtx sleeps for d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// closedSoon returns a channel that becomes ready after d.
func closedSoon(d time.Duration) chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}

// jitter spreads d over [d/2, d) so that replicas do not reconnect in lockstep.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}
