package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/httpx/httpxtest"
	"github.com/shopworks/shop/platform/testkit"
)

// TestHostileRequestsChangeNothing sends the platform's catalogue of hostile requests to the
// real order-service handler, served like production: each is a 4xx problem, none writes.
func TestHostileRequestsChangeNothing(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("target", money.FromCents(1000), 50)
	resp, o := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id))
	require.Equal(t, 201, resp.StatusCode)
	before := f.tables(t)

	addr := httpxtest.Serve(t, f.server.Config.Handler)
	valid := fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id)
	reqs := httpxtest.Hostile(httpxtest.Target{
		Create: "/orders", Valid: valid,
		WithString: func(s string) string { return fmt.Sprintf(`{"productId":%d,"qty":1,"note":"%s"}`, p.Id, s) },
		Duplicate:  fmt.Sprintf(`{"productId":%d,"qty":1,"qty":2}`, p.Id),
		Deep:       func(v string) string { return fmt.Sprintf(`{"productId":%d,"qty":%s}`, p.Id, v) },
		HugeNumber: `{"productId":1e400,"qty":1}`,
		Item:       fmt.Sprintf("/orders/%v", o["id"]),
	})
	require.GreaterOrEqual(t, len(reqs), 60)
	httpxtest.Check(t, addr, reqs)
	require.Equal(t, before, f.tables(t), "a hostile request changed the database")
}

// tables is every row of the tables a write touches, as text.
func (f *fixture) tables(t testing.TB) string {
	t.Helper()
	return testkit.Snapshot(t, f.db,
		"SELECT CONCAT_WS('|', id, product_id, qty, status, updated_at) FROM orders ORDER BY id",
		"SELECT CONCAT_WS('|', COUNT(*), COALESCE(MAX(id), 0)) FROM outbox",
		"SELECT CONCAT_WS('|', COUNT(*)) FROM idempotency_keys",
	)
}
