package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx/httpxtest"
	"github.com/shopworks/shop/platform/testkit"
)

// TestHostileRequestsChangeNothing sends the platform's catalogue of hostile requests to the
// real product-service handler, served like production: each is a 4xx problem, none writes.
func TestHostileRequestsChangeNothing(t *testing.T) {
	f := newFixture(t)
	resp, p := f.do(t, "POST", "/products", `{"name":"target","price":10,"qty":5}`)
	require.Equal(t, 201, resp.StatusCode)
	item := fmt.Sprintf("/products/%v", p["id"])
	before := f.tables(t)

	addr := httpxtest.Serve(t, f.server.Config.Handler)
	target := httpxtest.Target{
		Create: "/products", Valid: `{"name":"a","price":1,"qty":1}`,
		WithString: func(s string) string { return `{"name":"` + s + `","price":1,"qty":1}` },
		Duplicate:  `{"name":"a","price":1,"qty":1,"price":-5}`,
		Deep:       func(v string) string { return `{"name":"a","price":1,"qty":` + v + `}` },
		HugeNumber: `{"name":"a","price":1e400,"qty":1}`,
		Item:       item, Update: item, UpdateMethods: []string{"PUT", "PATCH"},
	}
	reqs := httpxtest.Hostile(target)
	require.GreaterOrEqual(t, len(reqs), 60)
	httpxtest.Check(t, addr, reqs)
	require.Equal(t, before, f.tables(t), "a hostile request changed the database")
}

// tables is every row of the tables a write touches, as text.
func (f *fixture) tables(t testing.TB) string {
	t.Helper()
	return testkit.Snapshot(t, f.DB,
		"SELECT CONCAT_WS('|', id, name, price, qty, updated_at) FROM products ORDER BY id",
		"SELECT CONCAT_WS('|', COUNT(*), COALESCE(MAX(id), 0)) FROM outbox",
		"SELECT CONCAT_WS('|', COUNT(*)) FROM processed_orders",
	)
}
