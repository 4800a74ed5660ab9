package main

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

func TestMigrateSubcommandCreatesTheSchema(t *testing.T) {
	dsn := testkit.NewDatabase(t, "order_cmd")
	t.Setenv("MYSQL_DSN", dsn)
	require.NoError(t, run(context.Background(), []string{"migrate"}))
	require.NoError(t, run(context.Background(), []string{"migrate"}), "migrating twice is a no-op")
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
	assert.Zero(t, n)
}

func TestHealthcheckSubcommand(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	_, port, err := net.SplitHostPort(ts.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("PORT", port)
	require.NoError(t, run(context.Background(), []string{"healthcheck"}))

	ts.Close()
	require.Error(t, run(context.Background(), []string{"healthcheck"}), "nothing listens any more")
}

func TestBadInvocationsFailWithAClearError(t *testing.T) {
	require.ErrorContains(t, run(context.Background(), []string{"nope"}), "unknown command")
	t.Setenv("PORT", strconv.Itoa(70000))
	require.ErrorContains(t, run(context.Background(), nil), "PORT")
}
