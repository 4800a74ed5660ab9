// Package app wires order-service together and owns its lifecycle: MySQL (migrated), Redis,
// RabbitMQ, the price cache in front of product-service, the outbox relay, the stock-result and
// product-change consumers, and the HTTP server; it stops them in order — stop accepting HTTP,
// drain, stop consuming, flush the relay, close connections.
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

	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/order-service/internal/config"
	"github.com/shopworks/shop/order-service/internal/httpapi"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/boot"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/outbox"
)

// Migrate applies the database migrations and returns.
func Migrate(cfg config.Config) error { return mysql.Migrate(cfg.MySQLDSN) }

// Run serves until ctx is done, on ln when given (tests) or on cfg.Port.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ln net.Listener) error {
	log.Info("starting order-service", slog.Any("config", cfg))
	stopDebug, err := httpx.StartDebug(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopDebug()
	deps, err := boot.Open(ctx, boot.Config{
		Service: "order-service", Database: "orderdb", MySQLDSN: cfg.MySQLDSN, MaxOpen: cfg.DBMaxOpenConns, Migrate: mysql.Migrate,
		RedisURL: cfg.RedisURL, RabbitURL: cfg.RabbitURL, Exchange: cfg.Exchange,
	}, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	db, rdb, conn, reg := deps.DB, deps.Redis, deps.AMQP, deps.Registry
	stockResults := amqpx.ConsumerSpec{
		Queue: cfg.StockResultsQueue(), Bindings: []string{messaging.KeyStockReserved, messaging.KeyStockRejected},
		Prefetch: 4 * cfg.ConsumerWorkers, Concurrency: cfg.ConsumerWorkers,
	}
	productChanges := amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{messaging.KeyProductUpdated, messaging.KeyProductDeleted}, Prefetch: 64}
	// Both durable queues of the saga exist before the first order.created is published, whichever
	// service starts first, so no event is dropped as unroutable.
	for _, spec := range []amqpx.ConsumerSpec{stockResults, {Queue: cfg.OrderCreatedQueue(), Bindings: []string{cfg.OrderCreatedKey}}} {
		if err := conn.DeclareTopology(spec); err != nil {
			return fmt.Errorf("declare queue %s: %w", spec.Queue, err)
		}
	}

	products, err := productclient.New(cfg.ProductBaseURL, productclient.Options{Timeout: cfg.ProductTimeout, APIKey: cfg.ProductAPIKey})
	if err != nil {
		return err
	}
	prices := pricing.New(pricing.ProductServiceLoader(products), pricing.Options{
		Fresh: cfg.PriceFreshFor, MaxStale: cfg.PriceMaxStale, Size: cfg.PriceCacheSize, LoadTimeout: cfg.ProductTimeout,
	})
	defer prices.Close()

	store := mysql.NewStore(db, cfg.IdempotencyKeyTTL)
	cache := rediscache.New(rdb, cfg.RedisKeyPrefix, cfg.CacheTTL)
	relay := outbox.NewRelay(db, conn, outbox.RelayOptions{Linger: cfg.OutboxLinger}, log, reg)
	afterWrite := func(ctx context.Context, productID int64) {
		if err := cache.Invalidate(ctx, productID); err != nil {
			log.WarnContext(ctx, "orders cache invalidation failed", slog.Int64("productId", productID), slog.String("error", err.Error()))
		}
		relay.Notify()
	}
	// The group commit has its own small pool: multi-statement round trips stay confined to it.
	batchDB, err := dbx.Open(ctx, cfg.MySQLDSN, dbx.PoolConfig{MaxOpen: 2 * cfg.WriteBatchWorkers, MultiStatements: true})
	if err != nil {
		return fmt.Errorf("open the group-commit pool: %w", err)
	}
	defer batchDB.Close()
	committer := mysql.NewCommitter(mysql.NewBatchWriter(batchDB), cfg.WriteBatchMax, cfg.WriteBatchWorkers, afterWrite)
	server := httpapi.NewServer(httpapi.Deps{
		Store: store, Orders: committer, Prices: prices, Cache: cache, OrderCreatedKey: cfg.OrderCreatedKey, AfterWrite: afterWrite, Log: log,
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
	results := &messaging.StockResults{Orders: committer, Log: log}
	changes := &messaging.ProductChanges{Prices: prices, Log: log}

	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listen on %d: %w", cfg.Port, err)
		}
	}
	// Stopped in this order: HTTP, consumers, the committer (its writers are gone), the relay
	// (which flushes what the last batches added).
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	commitCtx, stopCommitting := context.WithCancel(context.WithoutCancel(ctx))
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	defer stopCommitting()
	defer stopRelay()
	var consumers, committing, relaying errgroup.Group
	relaying.Go(func() error { return relay.Run(relayCtx) })
	committing.Go(func() error { return committer.Run(commitCtx) })
	consumers.Go(func() error { return conn.Consume(consumeCtx, stockResults, results.Handle) })
	consumers.Go(func() error { return conn.Consume(consumeCtx, productChanges, changes.Handle) })
	consumers.Go(func() error { return pruneKeys(consumeCtx, store, log) })

	err = httpx.Serve(ctx, httpx.NewServer(ln.Addr().String(), handler), ln, cfg.ShutdownTimeout, log)
	log.Info("http stopped; stopping consumers and flushing the outbox")
	stopConsuming()
	werr := consumers.Wait()
	stopCommitting()
	werr = errors.Join(werr, committing.Wait())
	stopRelay()
	werr = errors.Join(werr, relaying.Wait())
	if werr != nil && !errors.Is(werr, context.Canceled) {
		err = errors.Join(err, werr)
	}
	log.Info("order-service stopped")
	return err
}

// pruneKeys deletes expired idempotency keys every minute.
func pruneKeys(ctx context.Context, store *mysql.Store, log *slog.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if n, err := store.PruneIdempotencyKeys(pctx, 10000); err != nil {
				log.WarnContext(ctx, "prune idempotency keys", slog.String("error", err.Error()))
			} else if n > 0 {
				log.Info("pruned idempotency keys", slog.Int64("count", n))
			}
			cancel()
		}
	}
}
