package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/shopworks/shop/platform/groupcommit"
)

// Store is product-service's database (mysql.Store). Every write stores its events (product.*,
// stock.*) in the outbox in the same transaction.
type Store interface {
	Get(ctx context.Context, id int64) (Product, error)
	List(ctx context.Context, after int64, limit int) ([]Product, error)
	Create(ctx context.Context, in Input, correlationID string) (Product, error)
	// Update applies change to the locked current row; an error from change aborts it.
	Update(ctx context.Context, id int64, change func(Product) (Input, error), correlationID string) (Product, error)
	Delete(ctx context.Context, id int64, correlationID string) (Product, error)
	// ApplyStock decides (DecideStock) and applies a batch of stock requests in one transaction,
	// exactly once per order, with one stock.results event for the reservations it decided;
	// ErrReservationConflict when another transaction recorded one of the orders meanwhile.
	ApplyStock(ctx context.Context, reqs []StockRequest) ([]StockResult, error)
}

// ErrReservationConflict is the Store's answer when an order of the batch was recorded by a
// concurrent transaction; nothing of the batch was applied.
var ErrReservationConflict = errors.New("an order of the batch was recorded concurrently")

// DocumentCache is the shared cache of encoded products (rediscache.Cache). A value is stored
// only if the product's generation is still the one read before loading it.
type DocumentCache interface {
	Get(ctx context.Context, id int64) ([]byte, bool, error)
	Generation(ctx context.Context, id int64) (string, error)
	SetIfCurrent(ctx context.Context, id int64, gen string, doc []byte) error
}

// LocalCache is the in-process cache in front of DocumentCache (localcache.Cache); a nil
// *localcache.Cache is valid and never hits.
type LocalCache interface {
	Get(id int64) ([]byte, bool)
	Generation() uint64
	Put(id int64, doc []byte, gen uint64)
	Invalidate(id int64)
}

// Invalidator takes DocumentCache invalidations off the write path (invalidation.Queue).
type Invalidator interface {
	Mark(ids ...int64)
	Pending(id int64) bool
}

// Notifier is woken after a commit that wrote outbox events (outbox.Relay).
type Notifier interface{ Notify() }

// Deps are the Service's collaborators.
type Deps struct {
	Store  Store
	Docs   DocumentCache
	Local  LocalCache
	Stale  Invalidator
	Relay  Notifier
	Encode func(Product) ([]byte, error) // the wire document GET /products/{id} answers
	Log    *slog.Logger
}

// Options tune the Service; zero values mean the defaults.
type Options struct {
	WriteTimeout time.Duration // bound of one product write or reservation; default 2 s
	BatchMax     int           // stock requests decided in one transaction; default 64
	// TracerProvider traces the reservation group commit's waits and batches (nil: tracing off).
	TracerProvider trace.TracerProvider
}

// Service is product-service's application layer.
type Service struct {
	d     Deps
	opts  Options
	stock *groupcommit.Batcher[StockRequest, StockResult]
	loads singleflight.Group
}

// NewService returns a Service; Run must be running for reservations to complete.
func NewService(d Deps, opts Options) *Service {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 2 * time.Second
	}
	if opts.BatchMax <= 0 {
		opts.BatchMax = 64
	}
	s := &Service{d: d, opts: opts}
	s.stock = groupcommit.New(s.applyStock, groupcommit.Options{
		MaxBatch: opts.BatchMax, Timeout: opts.WriteTimeout, Name: "stock.apply", TracerProvider: opts.TracerProvider,
		// Replayed one order at a time, a batch that raced another replica on one of its orders
		// sees that order as already processed and applies the rest.
		SplitOn: func(err error) bool { return errors.Is(err, ErrReservationConflict) },
	})
	return s
}

// Run decides stock requests until ctx is done. Stop it after the consumer, before the relay.
func (s *Service) Run(ctx context.Context) error { return s.stock.Run(ctx) }

// afterCommit runs after every commit that changed products: this replica's local cache forgets
// them at once, the shared cache off the write path, and the relay publishes the events.
func (s *Service) afterCommit(ids ...int64) {
	for _, id := range ids {
		s.d.Local.Invalidate(id)
	}
	s.d.Stale.Mark(ids...)
	s.d.Relay.Notify()
}

// CreateProduct validates and stores a product; product.updated announces it.
func (s *Service) CreateProduct(ctx context.Context, in Input, correlationID string) (Product, error) {
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	p, err := s.d.Store.Create(ctx, in, correlationID)
	if err != nil {
		return Product{}, err
	}
	s.afterCommit(p.ID)
	return p, nil
}

// ReplaceProduct replaces every field of a product.
func (s *Service) ReplaceProduct(ctx context.Context, id int64, in Input, correlationID string) (Product, error) {
	return s.update(ctx, id, func(Product) Input { return in }, correlationID)
}

// UpdateProduct changes the fields the patch names; an empty patch is invalid.
func (s *Service) UpdateProduct(ctx context.Context, id int64, patch Patch, correlationID string) (Product, error) {
	if patch.Empty() {
		return Product{}, &ValidationError{Fields: []FieldError{{Field: "body", Message: "at least one of name, price, qty is required"}}}
	}
	return s.update(ctx, id, func(cur Product) Input { return cur.Apply(patch) }, correlationID)
}

func (s *Service) update(ctx context.Context, id int64, change func(Product) Input, correlationID string) (Product, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	p, err := s.d.Store.Update(ctx, id, func(cur Product) (Input, error) {
		in := change(cur)
		return in, in.Validate()
	}, correlationID)
	if err != nil {
		return Product{}, err
	}
	s.afterCommit(p.ID)
	return p, nil
}

// DeleteProduct removes a product and returns it as it was; product.deleted announces it.
func (s *Service) DeleteProduct(ctx context.Context, id int64, correlationID string) (Product, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	p, err := s.d.Store.Delete(ctx, id, correlationID)
	if err != nil {
		return Product{}, err
	}
	s.afterCommit(p.ID)
	return p, nil
}

// GetProduct reads a product from MySQL.
func (s *Service) GetProduct(ctx context.Context, id int64) (Product, error) {
	return s.d.Store.Get(ctx, id)
}

// ListProducts returns up to limit products with id > after, ascending.
func (s *Service) ListProducts(ctx context.Context, after int64, limit int) ([]Product, error) {
	return s.d.Store.List(ctx, after, limit)
}

// ProductDocument returns the encoded product through the in-process cache, then the shared
// cache, then MySQL (hit says it came from a cache). Concurrent misses of one product load once;
// a loaded value is cached only if no write invalidated the product meanwhile, and while an
// invalidation of the product is pending, the shared cache is not used for it at all.
func (s *Service) ProductDocument(ctx context.Context, id int64) ([]byte, bool, error) {
	if b, ok := s.d.Local.Get(id); ok {
		return b, true, nil
	}
	localGen := s.d.Local.Generation()
	shared := !s.d.Stale.Pending(id)
	if shared {
		b, ok, err := s.d.Docs.Get(ctx, id)
		switch {
		case err != nil:
			shared = false
			s.d.Log.DebugContext(ctx, "product cache unavailable; reading MySQL", slog.String("error", err.Error()))
		case ok:
			s.d.Local.Put(id, b, localGen)
			return b, true, nil
		}
	}
	v, err, _ := s.loads.Do(strconv.FormatInt(id, 10), func() (any, error) {
		gen := ""
		if shared {
			g, err := s.d.Docs.Generation(ctx, id)
			if err == nil {
				gen = g
			}
		}
		p, err := s.d.Store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		b, err := s.d.Encode(p)
		if err != nil {
			return nil, fmt.Errorf("encode product %d: %w", id, err)
		}
		if gen != "" && !s.d.Stale.Pending(id) {
			if err := s.d.Docs.SetIfCurrent(ctx, id, gen, b); err != nil {
				s.d.Log.DebugContext(ctx, "product not cached", slog.String("error", err.Error()))
			}
		}
		return b, nil
	})
	if err != nil {
		return nil, false, err
	}
	s.d.Local.Put(id, v.([]byte), localGen)
	return v.([]byte), false, nil
}

// ChangeStock reserves an order's stock, or gives a reservation back, exactly once per order, in
// a group commit with the stock requests of other orders arriving meanwhile.
func (s *Service) ChangeStock(ctx context.Context, req StockRequest) (StockResult, error) {
	if err := req.Validate(); err != nil {
		return StockResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	r, err := s.stock.Do(ctx, req)
	if err != nil {
		return StockResult{}, fmt.Errorf("stock request for order %d: %w", req.OrderID, err)
	}
	return r, nil
}

func (s *Service) applyStock(ctx context.Context, reqs []StockRequest) ([]StockResult, error) {
	res, err := s.d.Store.ApplyStock(ctx, reqs)
	if err != nil {
		return nil, err
	}
	var changed []int64
	seen := map[int64]bool{}
	for _, r := range res {
		if (r.Outcome == Reserved || r.Outcome == Released) && !seen[r.Request.ProductID] {
			seen[r.Request.ProductID] = true
			changed = append(changed, r.Request.ProductID)
		}
	}
	if len(changed) > 0 {
		s.afterCommit(changed...)
	} else {
		s.d.Relay.Notify() // rejections change no product but have their results to publish
	}
	return res, nil
}
