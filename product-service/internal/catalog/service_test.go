package catalog_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/catalogtest"
)

func name(t *testing.T, doc []byte) string {
	t.Helper()
	var p struct{ Name string }
	require.NoError(t, json.Unmarshal(doc, &p))
	return p.Name
}

// Redis frozen: product writes and reservations never wait for it, reads fall back to MySQL, and
// once Redis is back with its old contents, the value cached before the writes is never served.
func TestAFrozenRedisIsNeverOnTheWritePathAndStaleValuesAreNotServedAfterward(t *testing.T) {
	s := catalogtest.Start(t, catalogtest.Options{RedisViaProxy: true})
	ctx := context.Background()
	p, err := s.Service.CreateProduct(ctx, catalog.Input{Name: "Old", Price: money.FromCents(100), Qty: 10}, "")
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, hit, _ := s.Service.ProductDocument(ctx, p.ID); return hit }, 5*time.Second, 10*time.Millisecond)

	s.RedisProxy.Freeze()
	_, err = s.Service.ReplaceProduct(ctx, p.ID, catalog.Input{Name: "New", Price: money.FromCents(200), Qty: 10}, "")
	require.NoError(t, err, "writes are taken while Redis hangs")
	res, err := s.Service.ChangeStock(ctx, catalog.StockRequest{OrderID: 1, ProductID: p.ID, Qty: 3})
	require.NoError(t, err)
	assert.Equal(t, catalog.Reserved, res.Outcome)
	doc, hit, err := s.Service.ProductDocument(ctx, p.ID)
	require.NoError(t, err)
	assert.False(t, hit)
	assert.Equal(t, "New", name(t, doc), "read from MySQL")

	s.RedisProxy.Thaw() // Redis comes back holding "Old"
	require.Eventually(t, func() bool { return !s.Stale.Pending(p.ID) }, 5*time.Second, 10*time.Millisecond)
	for range 3 {
		doc, _, err := s.Service.ProductDocument(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, "New", name(t, doc), "the value cached before the write is never served again")
	}
}

func TestInvalidChangesAreRefusedBeforeTheDatabase(t *testing.T) {
	s := catalogtest.Start(t, catalogtest.Options{})
	ctx := context.Background()
	_, err := s.Service.CreateProduct(ctx, catalog.Input{Name: " ", Price: 0, Qty: -1}, "")
	var ve *catalog.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, 3, "every invalid field is reported")
	p, err := s.Service.CreateProduct(ctx, catalog.Input{Name: "ok", Price: money.FromCents(1), Qty: 1}, "")
	require.NoError(t, err)
	_, err = s.Service.UpdateProduct(ctx, p.ID, catalog.Patch{}, "")
	require.ErrorAs(t, err, &ve)
	qty := int32(-5)
	_, err = s.Service.UpdateProduct(ctx, p.ID, catalog.Patch{Qty: &qty}, "")
	require.ErrorAs(t, err, &ve)
	_, err = s.Service.ChangeStock(ctx, catalog.StockRequest{OrderID: 0, ProductID: p.ID, Qty: 1})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 1, s.Count(t, "outbox"), "only the valid create wrote an event")
}

// MySQL frozen: writes and reservations are answered by the deadline, and the service recovers
// by itself after the thaw.
func TestAFrozenDatabaseAnswersByTheDeadline(t *testing.T) {
	s := catalogtest.Start(t, catalogtest.Options{MySQLViaProxy: true, Service: catalog.Options{WriteTimeout: 500 * time.Millisecond}})
	ctx := context.Background()
	p, err := s.Service.CreateProduct(ctx, catalog.Input{Name: "p", Price: money.FromCents(1), Qty: 5}, "")
	require.NoError(t, err)
	s.MySQLProxy.Freeze()
	start := time.Now()
	_, err = s.Service.ChangeStock(ctx, catalog.StockRequest{OrderID: 1, ProductID: p.ID, Qty: 1})
	require.Error(t, err)
	assert.True(t, dbx.IsUnavailable(err), "%v", err)
	_, err = s.Service.UpdateProduct(ctx, p.ID, catalog.Patch{Name: &p.Name}, "")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	s.MySQLProxy.Thaw()
	require.Eventually(t, func() bool {
		_, err := s.Service.ChangeStock(ctx, catalog.StockRequest{OrderID: 1, ProductID: p.ID, Qty: 1})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	got, err := s.Service.GetProduct(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(4), got.Qty, "reserved once")
}
