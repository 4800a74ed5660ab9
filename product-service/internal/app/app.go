// Package app wires product-service together and owns its lifecycle: open MySQL (migrated),
// Redis and RabbitMQ, start the outbox relay, the order.created consumer and the HTTP server, and
// stop them in order — stop accepting HTTP, drain in-flight requests, stop consuming, flush the
// relay, close the connections.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/boot"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/config"
	"github.com/shopworks/shop/product-service/internal/httpapi"
	"github.com/shopworks/shop/product-service/internal/localcache"
	"github.com/shopworks/shop/product-service/internal/messaging"
	"github.com/shopworks/shop/product-service/internal/mysql"
	"github.com/shopworks/shop/product-service/internal/rediscache"
)

// Migrate applies the database migrations and returns.
func Migrate(cfg config.Config) error { return mysql.Migrate(cfg.MySQLDSN) }

// Run serves until ctx is done, on ln when given (tests) or on cfg.Port.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ln net.Listener) error {
	log.Info("starting product-service", slog.Any("config", cfg))
	stopDebug, err := httpx.StartDebug(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	deps, err := boot.Open(ctx, boot.Config{
		Service: "product-service", Database: "productdb", MySQLDSN: cfg.MySQLDSN, MaxOpen: cfg.DBMaxOpenConns, Migrate: mysql.Migrate,
		RedisURL: cfg.RedisURL, RabbitURL: cfg.RabbitURL, Exchange: cfg.Exchange,
	}, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb, conn, reg := deps.DB, deps.Redis, deps.AMQP, deps.Registry
	consumer := amqpx.ConsumerSpec{
		Queue: cfg.OrderCreatedQueue(), Bindings: []string{messaging.KeyOrderCreated},
		Prefetch: 4 * cfg.ConsumerWorkers, Concurrency: cfg.ConsumerWorkers,
	}
	// Declared before anything is published, so order.created is never dropped as unroutable.
	if err := conn.DeclareTopology(consumer); err != nil {
		return fmt.Errorf("declare queue %s: %w", consumer.Queue, err)
	}

	store := mysql.NewStore(db)
	cache := rediscache.New(rdb, cfg.RedisKeyPrefix, cfg.CacheTTL)
	local := localcache.New(cfg.LocalCacheTTL, cfg.LocalCacheSize)
	relay := outbox.NewRelay(db, conn, outbox.RelayOptions{Linger: cfg.OutboxLinger}, log, reg)
	afterWrite := func(ctx context.Context, productID int64) {
		if err := cache.Invalidate(ctx, productID); err != nil {
			log.WarnContext(ctx, "cache invalidation failed", slog.Int64("productId", productID), slog.String("error", err.Error()))
		}
		local.Invalidate(productID) // after Redis: a racing load cannot refill it from Redis
		relay.Notify()
	}
	orders, err := orderclient.New(cfg.OrdersBaseURL, orderclient.Options{Timeout: cfg.OrdersTimeout, APIKey: cfg.OrdersAPIKey})
	if err != nil {
		return err
	}
	server := httpapi.NewServer(httpapi.Deps{
		Store: store, Cache: cache, Local: local, Orders: orders, OrdersTimeout: cfg.OrdersTimeout, AfterWrite: afterWrite, Log: log,
		Checks: []httpx.Check{
			{Name: "mysql", Required: true, Probe: store.Ping},
			{Name: "redis", Probe: cache.Ping},
			{Name: "rabbitmq", Required: true, Probe: conn.Ready},
		},
	})
	handler, err := httpapi.NewHandler(server, httpapi.HandlerConfig{Log: log, Registry: reg, APIKeys: cfg.APIKeys, RateLimitRequests: cfg.RateLimitRPS, MaxInFlight: cfg.MaxInFlight})
	if err != nil {
		return err
	}
	batcher := messaging.NewBatcher(cfg.ConsumerWorkers,
		func(ctx context.Context, reqs []catalog.ReservationRequest, corr map[int64]string) ([]catalog.ReservationResult, error) {
			return store.ReserveBatch(ctx, reqs, func(r catalog.ReservationResult) ([]outbox.Event, error) {
				return messaging.ReservationEvents(corr[r.Request.OrderID], time.Now)(r)
			})
		},
		func(ctx context.Context, req catalog.ReservationRequest, correlationID string) (catalog.ReservationResult, error) {
			return store.Reserve(ctx, req, messaging.ReservationEvents(correlationID, time.Now))
		},
		mysql.IsBatchConflict, afterWrite)
	orderCreated := messaging.NewOrderCreatedHandler(batcher.Reserve, nil, log)

	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listen on %d: %w", cfg.Port, err)
		}
	}
	return serve(ctx, log, cfg, httpx.NewServer(ln.Addr().String(), handler), ln, relay, batcher.Run, func(ctx context.Context) error {
		return conn.Consume(ctx, consumer, orderCreated.Handle)
	})
}

// serve runs HTTP, the consumer and the relay, and stops them in order when ctx is done.
func serve(ctx context.Context, log *slog.Logger, cfg config.Config, srv *http.Server, ln net.Listener, relay *outbox.Relay,
	batch, consume func(context.Context) error) error {
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	defer stopRelay()

	var workers errgroup.Group
	workers.Go(func() error { return relay.Run(relayCtx) })
	workers.Go(func() error { return batch(relayCtx) })
	consumed := make(chan error, 1)
	go func() { consumed <- consume(consumeCtx) }() // waited for below

	err := httpx.Serve(ctx, srv, ln, cfg.ShutdownTimeout, log)
	log.Info("http stopped; stopping consumer and flushing the outbox")
	// Consumer first (its in-flight handlers finish their reservations and ack), then the
	// batcher and the relay (which flushes what those reservations wrote).
	stopConsuming()
	cerr := <-consumed
	stopRelay()
	werr := workers.Wait()
	for _, e := range []error{cerr, werr} {
		if e != nil && !errors.Is(e, context.Canceled) {
			err = errors.Join(err, e)
		}
	}
	log.Info("product-service stopped")
	return err
}
