package boot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/boot"
	"github.com/shopworks/shop/platform/testkit"
)

func config(t *testing.T) boot.Config {
	return boot.Config{
		Service: "boot-test", Database: "bootdb", MySQLDSN: testkit.NewDatabase(t, "boot"),
		Migrate: func(string) error { return nil }, RedisURL: "redis://" + testkit.RedisAddr(),
		RabbitURL: testkit.RabbitURL(), Exchange: "boot_test_" + testkit.Suffix(), DialBudget: 10 * time.Second,
	}
}

func TestOpenOpensEverythingAndCloseReleasesIt(t *testing.T) {
	cfg := config(t)
	d, err := boot.Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.NoError(t, d.DB.Ping())
	require.NoError(t, d.Redis.Ping(context.Background()).Err())
	require.NoError(t, d.AMQP.Ready(context.Background()))
	families, err := d.Registry.Gather()
	require.NoError(t, err)
	assert.NotEmpty(t, families)
	require.NoError(t, d.AMQP.DeleteExchange(cfg.Exchange))
	require.NoError(t, d.AMQP.DeleteExchange(cfg.Exchange+".dlx"))
	require.NoError(t, d.Close())
	assert.Error(t, d.DB.Ping(), "closed")
}

func TestOpenFailsOnTheFirstMissingDependency(t *testing.T) {
	boom := errors.New("migration 3 failed")
	cfg := config(t)
	cfg.Migrate = func(string) error { return boom }
	_, err := boot.Open(context.Background(), cfg, nil)
	require.ErrorIs(t, err, boom)

	cfg = config(t)
	cfg.MySQLDSN = "root@tcp(127.0.0.1:1)/x?timeout=500ms"
	_, err = boot.Open(context.Background(), cfg, nil)
	require.ErrorContains(t, err, "connect to MySQL")

	cfg = config(t)
	cfg.RedisURL = "nope://"
	_, err = boot.Open(context.Background(), cfg, nil)
	require.Error(t, err)

	cfg = config(t)
	cfg.RabbitURL = "amqp://guest:guest@127.0.0.1:1/"
	cfg.DialBudget = time.Second
	_, err = boot.Open(context.Background(), cfg, nil)
	require.ErrorContains(t, err, "connect to RabbitMQ")
}
