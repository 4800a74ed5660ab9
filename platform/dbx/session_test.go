package dbx_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/testkit"
)

func multiPool(t *testing.T) *sql.DB {
	t.Helper()
	dsn := testkit.NewDatabase(t, "dbx_session")
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 1, MultiStatements: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, CHECK (v > 0))")
	require.NoError(t, err)
	return db
}

func TestSessionRunsSeveralStatementsInOneRoundTrip(t *testing.T) {
	db := multiPool(t)
	ctx := context.Background()
	err := dbx.WithSession(ctx, db, func(s *dbx.Session) error {
		res, err := s.Exec(ctx, "START TRANSACTION; INSERT INTO t (v) VALUES (?), (?); INSERT INTO t (v) VALUES (?); COMMIT", 1, int32(2), int64(3))
		require.NoError(t, err)
		assert.Equal(t, []int64{0, 2, 1, 0}, res.AllRowsAffected())
		assert.Equal(t, []int64{0, 1, 3, 0}, res.AllLastInsertIds())
		var now time.Time
		var n int64
		var name string
		require.NoError(t, s.QueryRow(ctx, "SELECT CURRENT_TIMESTAMP(3), COUNT(*), 'x' FROM t", &now, &n, &name))
		assert.WithinDuration(t, time.Now(), now, time.Hour)
		assert.Equal(t, int64(3), n)
		assert.Equal(t, "x", name)
		r, err := s.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id > ?", 1)
		require.NoError(t, err)
		affected, _ := r.RowsAffected()
		assert.Equal(t, int64(2), affected)
		return nil
	})
	require.NoError(t, err)
}

func TestQueryRowArgsReadsWhatTheStatementsBeforeItDid(t *testing.T) {
	db := multiPool(t)
	ctx := context.Background()
	err := dbx.WithSession(ctx, db, func(s *dbx.Session) error {
		var at time.Time
		var first, count, step int64
		require.NoError(t, s.QueryRowArgs(ctx, `SET @at := CURRENT_TIMESTAMP(3); START TRANSACTION;
			INSERT INTO t (v) VALUES (?), (?), (?); SELECT CAST(@at AS DATETIME(3)), LAST_INSERT_ID(), ROW_COUNT(), @@auto_increment_increment`,
			[]any{1, 2, 3}, &at, &first, &count, &step))
		assert.WithinDuration(t, time.Now(), at, time.Hour)
		assert.Positive(t, first)
		assert.Equal(t, int64(3), count)
		assert.Equal(t, int64(1), step)
		var n int64
		require.NoError(t, s.QueryRow(ctx, "SELECT COUNT(*) FROM t WHERE v IN (1, 2, 3)", &n))
		assert.Equal(t, int64(3), n, "inside the open transaction")

		// A failing statement stops the round trip and is the error; nothing after it ran.
		err := s.QueryRowArgs(ctx, "INSERT INTO t (v) VALUES (?); SELECT 1", []any{-1}, &n)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "CONSTRAINT")
		// No statement that returns rows.
		require.ErrorIs(t, s.QueryRowArgs(ctx, "SET @x := 1; DO 1", nil, &n), sql.ErrNoRows)
		// A failing statement after the row.
		require.Error(t, s.QueryRowArgs(ctx, "SELECT 1; SELECT nope FROM t", nil, &n))
		_, err = s.Exec(ctx, "ROLLBACK")
		require.NoError(t, err)
		require.NoError(t, s.QueryRow(ctx, "SELECT COUNT(*) FROM t", &n))
		assert.Zero(t, n, "rolled back")
		assert.ErrorContains(t, s.QueryRowArgs(ctx, "SELECT ?", []any{make(chan int)}, &n), "argument 1")
		return nil
	})
	require.NoError(t, err)
}

func TestSessionReportsQueryMistakes(t *testing.T) {
	db := multiPool(t)
	ctx := context.Background()
	err := dbx.WithSession(ctx, db, func(s *dbx.Session) error {
		var n int64
		assert.ErrorIs(t, s.QueryRow(ctx, "SELECT v FROM t WHERE id = 42", &n), sql.ErrNoRows)
		assert.ErrorContains(t, s.QueryRow(ctx, "SELECT 1, 2", &n), "2 columns")
		var d time.Duration
		assert.ErrorContains(t, s.QueryRow(ctx, "SELECT 1", &d), "cannot scan")
		assert.Error(t, s.QueryRow(ctx, "SELECT nope FROM t", &n))
		_, err := s.Exec(ctx, "INSERT INTO t (v) VALUES (?)", make(chan int))
		assert.ErrorContains(t, err, "argument 1")
		_, err = s.ExecContext(ctx, "NOT SQL")
		assert.Error(t, err)
		return nil
	})
	require.NoError(t, err)
}

func TestWithSessionRollsBackWhatAFailedCallbackLeftOpen(t *testing.T) {
	db := multiPool(t)
	ctx := context.Background()
	// The second INSERT violates the CHECK: the first is in an open transaction when Exec fails.
	err := dbx.WithSession(ctx, db, func(s *dbx.Session) error {
		_, err := s.Exec(ctx, "START TRANSACTION; INSERT INTO t (v) VALUES (1); INSERT INTO t (v) VALUES (0)")
		return err
	})
	require.Error(t, err)
	// The pool has one connection: it came back clean, not mid-transaction.
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Zero(t, n)
	var inTx int
	require.NoError(t, db.QueryRow("SELECT @@in_transaction").Scan(&inTx))
	assert.Zero(t, inTx)
}

func TestWithSessionOnAClosedPool(t *testing.T) {
	db := multiPool(t)
	require.NoError(t, db.Close())
	err := dbx.WithSession(context.Background(), db, func(*dbx.Session) error { return nil })
	require.ErrorContains(t, err, "get connection")
}
