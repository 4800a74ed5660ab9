// Package app wires order-service together and owns its lifecycle: MySQL (migrated), Redis,
// RabbitMQ, the price cache in front of product-service, the ordering.Service and its batch
// writers, the cache invalidations, the outbox relay, the stock-result and product-change
// consumers, and the HTTP server; it stops them in order — stop accepting HTTP, drain, stop
// consuming, stop the writers, flush the invalidations and the relay, close connections.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/order-service/internal/config"
	"github.com/shopworks/shop/order-service/internal/httpapi"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/boot"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/eventschema"
	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/httpserver"
	"github.com/shopworks/shop/platform/invalidation"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/tracing"
)

// Migrate applies the database migrations and returns.
func Migrate(cfg config.Config) error { return mysql.Migrate(cfg.MySQLDSN) }

// Run serves until ctx is done, on ln when given (tests) or on cfg.Port.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ln net.Listener) error {
	log.InfoContext(ctx, "starting order-service", slog.Any("config", cfg))
	stopDebug, err := httpserver.StartDebug(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	tr, err := tracing.New(ctx, cfg.Tracing, "order-service")
	if err != nil {
		return err
	}
	defer flushSpans(tr, log) // after everything below stopped: their last spans go out too
	tp := tr.Provider()
	deps, err := boot.Open(ctx, boot.Config{
		Service: "order-service", Database: "orderdb", MySQLDSN: cfg.MySQLDSN, MaxOpen: cfg.DBMaxOpenConns, Migrate: mysql.Migrate,
		RedisURL: cfg.RedisURL, RabbitURL: cfg.RabbitURL, Exchange: cfg.Exchange, MustRoute: events.MustRoute, TracerProvider: tp,
	}, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb, conn, reg := deps.DB, deps.Redis, deps.AMQP, deps.Registry
	stockResults := amqpx.ConsumerSpec{
		Queue: cfg.StockResultsQueue(), Bindings: []string{events.KeyStockResults},
		Prefetch: 4 * cfg.ConsumerWorkers, Concurrency: cfg.ConsumerWorkers,
	}
	productChanges := amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{events.KeyProductUpdated, events.KeyProductDeleted}, Prefetch: 64,
		DeadLetterQueue: cfg.ProductChangesDLQ()}
	// Both durable queues of the saga exist before the first order.created is published, whichever
	// service starts first, so no event is dropped as unroutable.
	for _, spec := range []amqpx.ConsumerSpec{stockResults, {Queue: cfg.OrderCreatedQueue(), Bindings: []string{events.KeyOrderCreated, events.KeyOrderCancelled}}} {
		if err := conn.DeclareTopology(spec); err != nil {
			return fmt.Errorf("declare queue %s: %w", spec.Queue, err)
		}
	}

	products, err := productclient.New(cfg.ProductBaseURL, productclient.Options{Timeout: cfg.ProductTimeout, APIKey: cfg.ProductAPIKey,
		WrapTransport: tr.WrapTransport()})
	if err != nil {
		return err
	}
	prices := pricing.New(pricing.ProductServiceLoader(products), pricing.Options{
		Fresh: cfg.PriceFreshFor, MaxStale: cfg.PriceMaxStale, Size: cfg.PriceCacheSize, LoadTimeout: cfg.ProductTimeout,
	})
	defer prices.Close()

	// The batched writes and the outbox relay have their own small pool: multi-statement round
	// trips stay confined to it.
	batchDB, err := dbx.Open(ctx, cfg.MySQLDSN, dbx.PoolConfig{MaxOpen: 2*cfg.WriteBatchWorkers + 1, MultiStatements: true})
	if err != nil {
		return fmt.Errorf("open the group-commit pool: %w", err)
	}
	defer batchDB.Close()
	store := mysql.NewStore(db, batchDB, mysql.Events{Created: messaging.OrderCreated, Cancelled: messaging.OrderCancelled(time.Now)},
		mysql.Options{QueryTimeout: cfg.WriteTimeout})
	pages := rediscache.New(rdb, cfg.RedisKeyPrefix, cfg.CacheTTL)
	stale := invalidation.New(pages.InvalidateMany, invalidation.Options{Name: "orders"}, log, reg)
	relay := outbox.NewRelay(batchDB, conn, outbox.RelayOptions{Linger: cfg.OutboxLinger, TracerProvider: tp}, log, reg)
	orders := ordering.NewService(ordering.Deps{Store: store, Prices: prices, Pages: pages, Stale: stale, Relay: relay, Log: log}, ordering.Options{
		KeyTTL: cfg.IdempotencyKeyTTL, WriteTimeout: cfg.WriteTimeout, BatchMax: cfg.WriteBatchMax, BatchWorkers: cfg.WriteBatchWorkers,
		TracerProvider: tp,
	})
	server := httpapi.NewServer(httpapi.Deps{
		Orders: orders, Log: log,
		Checks: []health.Check{
			{Name: "mysql", Required: true, Probe: store.Ping},
			{Name: "redis", Probe: pages.Ping},
			{Name: "rabbitmq", Required: true, Probe: conn.Ready},
		},
	})
	handler, err := httpapi.NewHandler(server, httpapi.HandlerConfig{Log: log, Registry: reg, APIKeys: cfg.APIKeys, RateLimitRequests: cfg.RateLimitRPS, Shedding: guard.Shedding{Limit: cfg.MaxInFlight, MaxWait: cfg.MaxQueueWait}, AccessLog: cfg.AccessLog, TracerProvider: tp})
	if err != nil {
		return err
	}
	schemas, err := eventschema.New()
	if err != nil {
		return err
	}
	results := messaging.NewStockResults(orders, schemas, log, reg, tp)
	changes := &messaging.ProductChanges{Prices: prices, Schema: schemas, Log: log}

	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listen on %d: %w", cfg.Port, err)
		}
	}
	// Stopped in this order: HTTP, consumers, the service's batch writers (their callers are
	// gone), the cache invalidations and the relay (which flushes what the last batches added).
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	serviceCtx, stopService := context.WithCancel(context.WithoutCancel(ctx))
	flushCtx, stopFlushing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	defer stopService()
	defer stopFlushing()
	var consumers, service, flushing errgroup.Group
	flushing.Go(func() error { return relay.Run(flushCtx) })
	flushing.Go(func() error { return stale.Run(flushCtx) })
	service.Go(func() error { return orders.Run(serviceCtx) })
	consumers.Go(func() error { return conn.Consume(consumeCtx, stockResults, results.Handle) })
	consumers.Go(func() error { return conn.Consume(consumeCtx, productChanges, changes.Handle) })

	err = httpserver.Serve(ctx, httpserver.New(ln.Addr().String(), handler), ln, cfg.ShutdownTimeout, log)
	log.InfoContext(ctx, "http stopped; stopping consumers and flushing the outbox")
	stopConsuming()
	werr := consumers.Wait()
	stopService()
	werr = errors.Join(werr, service.Wait())
	stopFlushing()
	werr = errors.Join(werr, flushing.Wait())
	if werr != nil && !errors.Is(werr, context.Canceled) {
		err = errors.Join(err, werr)
	}
	log.InfoContext(ctx, "order-service stopped")
	return err
}

// flushSpans exports the spans still buffered, within a bound: a collector that is down must
// not hold up the exit.
func flushSpans(tr *tracing.Tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn("tracing: spans not flushed", slog.String("error", err.Error()))
	}
}
