package dbx_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/testkit"
)

func TestOpenRefusesABadDSNOrAnUnreachableServer(t *testing.T) {
	_, err := dbx.Open(context.Background(), "not a dsn", dbx.PoolConfig{})
	require.ErrorContains(t, err, "parse MySQL DSN")
	_, err = dbx.Open(context.Background(), "root@tcp(127.0.0.1:1)/x?timeout=500ms", dbx.PoolConfig{})
	require.ErrorContains(t, err, "connect to MySQL 127.0.0.1:1/x")
	assert.True(t, dbx.IsUnavailable(err))
}

func TestMigrateAppliesOnceAndReportsBrokenMigrations(t *testing.T) {
	dsn := testkit.NewDatabase(t, "dbx_migrate")
	good := fstest.MapFS{
		"m/0001_t.up.sql":   {Data: []byte("CREATE TABLE t (id INT PRIMARY KEY)")},
		"m/0001_t.down.sql": {Data: []byte("DROP TABLE t")},
	}
	require.NoError(t, dbx.Migrate(dsn, good, "m"))
	require.NoError(t, dbx.Migrate(dsn, good, "m"), "nothing to do the second time")

	broken := fstest.MapFS{
		"m/0001_t.up.sql": good["m/0001_t.up.sql"],
		"m/0002_x.up.sql": {Data: []byte("CREATE TABLE oops (")},
	}
	require.ErrorContains(t, dbx.Migrate(dsn, broken, "m"), "apply migrations")
	require.ErrorContains(t, dbx.Migrate(dsn, good, "missing"), "read migrations")
	require.ErrorContains(t, dbx.Migrate("not a dsn", good, "m"), "parse MySQL DSN")
	require.Error(t, dbx.Migrate("root@tcp(127.0.0.1:1)/x?timeout=500ms", good, "m"))
}

func TestIsUnavailableAndIsDuplicate(t *testing.T) {
	for _, err := range []error{
		context.DeadlineExceeded, mysql.ErrInvalidConn, sql.ErrConnDone, driver.ErrBadConn,
		errors.New("dial tcp 127.0.0.1:3306: connect: connection refused"),
		errors.New("read tcp: i/o timeout"),
		&mysql.MySQLError{Number: 1040, Message: "Too many connections"},
		fmt.Errorf("get order 1: %w", driver.ErrBadConn),
	} {
		assert.True(t, dbx.IsUnavailable(err), "%v", err)
	}
	for _, err := range []error{nil, errors.New("syntax error"), &mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}} {
		assert.False(t, dbx.IsUnavailable(err), "%v", err)
	}
	assert.True(t, dbx.IsDuplicate(fmt.Errorf("insert: %w", &mysql.MySQLError{Number: 1062})))
	assert.False(t, dbx.IsDuplicate(errors.New("Duplicate entry")))
}

func TestURLToDSN(t *testing.T) {
	dsn, err := dbx.URLToDSN("mysql://app:s3cret@db:3306/shop?timeout=5s")
	require.NoError(t, err)
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	assert.Equal(t, "app", cfg.User)
	assert.Equal(t, "s3cret", cfg.Passwd)
	assert.Equal(t, "db:3306", cfg.Addr)
	assert.Equal(t, "shop", cfg.DBName)

	same, err := dbx.URLToDSN("app:pw@tcp(db:3306)/shop")
	require.NoError(t, err)
	assert.Equal(t, "app:pw@tcp(db:3306)/shop", same, "a DSN is taken as it is")

	for _, bad := range []string{"mysql://db:3306", "mysql://u:p@/db", "mysql://u:p@db:3306/shop?timeout=forever"} {
		_, err := dbx.URLToDSN(bad)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), ":p@", "passwords are redacted")
	}
	assert.NotContains(t, dbx.Redact("mysql://app:s3cret@db/shop"), "s3cret")
}
