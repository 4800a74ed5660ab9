// Package app wires product-service together and owns its lifecycle: open MySQL (migrated),
// Redis and RabbitMQ, start the catalog.Service and its reservation writer, the cache
// invalidations, the outbox relay, the order.created consumer and the HTTP server, and stop them
// in order — stop accepting HTTP, drain in-flight requests, stop consuming, stop the writer,
// flush the invalidations and the relay, close the connections.
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

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/orderclient"
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
	log.InfoContext(ctx, "starting product-service", slog.Any("config", cfg))
	stopDebug, err := httpserver.StartDebug(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	tr, err := tracing.New(ctx, cfg.Tracing, "product-service")
	if err != nil {
		return err
	}
	defer flushSpans(tr, log) // after everything below stopped: their last spans go out too
	tp := tr.Provider()
	deps, err := boot.Open(ctx, boot.Config{
		Service: "product-service", Database: "productdb", MySQLDSN: cfg.MySQLDSN, MaxOpen: cfg.DBMaxOpenConns, Migrate: mysql.Migrate,
		RedisURL: cfg.RedisURL, RabbitURL: cfg.RabbitURL, Exchange: cfg.Exchange, MustRoute: events.MustRoute, TracerProvider: tp,
	}, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb, conn, reg := deps.DB, deps.Redis, deps.AMQP, deps.Registry
	consumer := amqpx.ConsumerSpec{
		Queue: cfg.OrderCreatedQueue(), Bindings: []string{events.KeyOrderCreated, events.KeyOrderCancelled},
		Prefetch: 4 * cfg.ConsumerWorkers, Concurrency: cfg.ConsumerWorkers,
	}
	// Declared before anything is published, so order.created is never dropped as unroutable.
	if err := conn.DeclareTopology(consumer); err != nil {
		return fmt.Errorf("declare queue %s: %w", consumer.Queue, err)
	}

	// Reservations are written in batches, and the outbox relay works, on their own small
	// multi-statement pool.
	batchDB, err := dbx.Open(ctx, cfg.MySQLDSN, dbx.PoolConfig{MaxOpen: 3, MultiStatements: true})
	if err != nil {
		return fmt.Errorf("open the reservation pool: %w", err)
	}
	defer batchDB.Close()
	store := mysql.NewStore(db, batchDB, mysql.Events{
		Updated: messaging.ProductUpdated, Deleted: messaging.ProductDeleted(time.Now), Results: messaging.StockResults(time.Now),
	}, cfg.WriteTimeout)
	docs := rediscache.New(rdb, cfg.RedisKeyPrefix, cfg.CacheTTL)
	stale := invalidation.New(docs.InvalidateMany, invalidation.Options{Name: "product"}, log, reg)
	relay := outbox.NewRelay(batchDB, conn, outbox.RelayOptions{Linger: cfg.OutboxLinger, TracerProvider: tp}, log, reg)
	products := catalog.NewService(catalog.Deps{
		Store: store, Docs: docs, Local: localcache.New(cfg.LocalCacheTTL, cfg.LocalCacheSize), Stale: stale, Relay: relay,
		Encode: httpapi.EncodeProduct, Log: log,
	}, catalog.Options{WriteTimeout: cfg.WriteTimeout, BatchMax: cfg.ConsumerWorkers, TracerProvider: tp})
	orders, err := orderclient.New(cfg.OrdersBaseURL, orderclient.Options{Timeout: cfg.OrdersTimeout, APIKey: cfg.OrdersAPIKey,
		WrapTransport: tr.WrapTransport()})
	if err != nil {
		return err
	}
	server := httpapi.NewServer(httpapi.Deps{
		Catalog: products, Orders: orders, OrdersTimeout: cfg.OrdersTimeout, Log: log,
		Checks: []health.Check{
			{Name: "mysql", Required: true, Probe: store.Ping},
			{Name: "redis", Probe: docs.Ping},
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
	orderEvents := messaging.NewOrderEvents(products, schemas, log)

	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listen on %d: %w", cfg.Port, err)
		}
	}
	return serve(ctx, log, cfg, httpserver.New(ln.Addr().String(), handler), ln, products.Run, []func(context.Context) error{relay.Run, stale.Run},
		func(ctx context.Context) error { return conn.Consume(ctx, consumer, orderEvents.Handle) })
}

// serve runs HTTP, the consumer, the service's batch writer and the flushers (relay, cache
// invalidations), and stops them in that order when ctx is done.
func serve(ctx context.Context, log *slog.Logger, cfg config.Config, srv *http.Server, ln net.Listener,
	service func(context.Context) error, flushers []func(context.Context) error, consume func(context.Context) error) error {
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	serviceCtx, stopService := context.WithCancel(context.WithoutCancel(ctx))
	flushCtx, stopFlushing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	defer stopService()
	defer stopFlushing()

	var serving, flushing errgroup.Group
	for _, f := range flushers {
		flushing.Go(func() error { return f(flushCtx) })
	}
	serving.Go(func() error { return service(serviceCtx) })
	consumed := make(chan error, 1)
	go func() { consumed <- consume(consumeCtx) }() // waited for below

	err := httpserver.Serve(ctx, srv, ln, cfg.ShutdownTimeout, log)
	log.InfoContext(ctx, "http stopped; stopping consumer and flushing the outbox")
	// Consumer first (its in-flight handlers finish their reservations and ack), then the
	// reservation writer, then the relay (which flushes what those reservations wrote).
	stopConsuming()
	cerr := <-consumed
	stopService()
	serr := serving.Wait()
	stopFlushing()
	ferr := flushing.Wait()
	for _, e := range []error{cerr, serr, ferr} {
		if e != nil && !errors.Is(e, context.Canceled) {
			err = errors.Join(err, e)
		}
	}
	log.InfoContext(ctx, "product-service stopped")
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
