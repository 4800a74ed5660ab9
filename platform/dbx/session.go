package dbx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Session is one pooled connection used directly, so that one round trip can carry several
// statements (the pool must be opened with PoolConfig.MultiStatements) and every statement's rows
// affected and insert ID come back (mysql.Result). Group commit uses it to write a batch of rows
// in one round trip instead of one per row. Transactions are plain statements here (START
// TRANSACTION … COMMIT); WithSession rolls back whatever a failed callback left open.
type Session struct {
	conn driver.Conn
}

// errNotASessionPool is what a pool not opened by Open (parameters interpolated) gets.
var errNotASessionPool = errors.New("dbx: a Session needs a pool opened by dbx.Open with MultiStatements")

// WithSession runs f on one connection of db. When f fails, an open transaction is rolled back;
// if that fails too, the connection is discarded rather than returned to the pool mid-transaction.
func WithSession(ctx context.Context, db *sql.DB, f func(*Session) error) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get connection: %w", err)
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		s := &Session{conn: dc.(driver.Conn)}
		ferr := f(s)
		if ferr == nil {
			return nil
		}
		if _, err := s.Exec(ctx, "ROLLBACK"); err != nil {
			return errors.Join(ferr, driver.ErrBadConn)
		}
		return ferr
	})
}

// Exec runs one or more statements separated by ';' in one round trip.
func (s *Session) Exec(ctx context.Context, query string, args ...any) (mysql.Result, error) {
	nv, err := s.named(args)
	if err != nil {
		return nil, err
	}
	res, err := s.conn.(driver.ExecerContext).ExecContext(ctx, query, nv)
	if errors.Is(err, driver.ErrSkip) {
		return nil, errNotASessionPool
	}
	if err != nil {
		return nil, err
	}
	return res.(mysql.Result), nil
}

// ExecContext is Exec for code written against *sql.Tx (outbox.Add).
func (s *Session) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := s.Exec(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// QueryRow runs a query that returns one row and scans its columns into dest (*time.Time,
// *string, *int64).
func (s *Session) QueryRow(ctx context.Context, query string, dest ...any) error {
	return s.QueryRowArgs(ctx, query, nil, dest...)
}

// QueryRowArgs runs one or more statements separated by ';' in one round trip, with args, and
// scans the one row of the first statement that returns rows into dest — so that writes and the
// read of what they did (LAST_INSERT_ID(), ROW_COUNT(), a user variable) cost one round trip. The
// first failing statement's error is returned (MySQL runs none after it).
func (s *Session) QueryRowArgs(ctx context.Context, query string, args []any, dest ...any) error {
	found := false
	err := s.Query(ctx, query, args, func(set int, vals []driver.Value) error {
		if set > 0 || found {
			return nil
		}
		found = true
		return Scan(vals, dest...)
	})
	if err == nil && !found {
		return sql.ErrNoRows
	}
	return err
}

// Query runs one or more statements separated by ';' in one round trip, with args, and calls row
// for every row of every result set; set counts the statements that returned rows (0 for the
// first). The first failing statement's error is returned (MySQL runs none after it), also when
// it comes after result sets that were read.
func (s *Session) Query(ctx context.Context, query string, args []any, row func(set int, vals []driver.Value) error) (err error) {
	nv, err := s.named(args)
	if err != nil {
		return err
	}
	rows, err := s.conn.(driver.QueryerContext).QueryContext(ctx, query, nv)
	if errors.Is(err, driver.ErrSkip) {
		return errNotASessionPool
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr // a failing statement after the last one that returned rows
		}
	}()
	next, _ := rows.(driver.RowsNextResultSet)
	for set := 0; ; {
		if cols := rows.Columns(); len(cols) > 0 {
			vals := make([]driver.Value, len(cols))
			for {
				if err := rows.Next(vals); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					return err
				}
				if err := row(set, vals); err != nil {
					return err
				}
			}
			set++
		}
		if next == nil || !next.HasNextResultSet() {
			return nil
		}
		if err := next.NextResultSet(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// Scan converts one row's values into dest (*time.Time, *string, *int64, *int32, *bool).
func Scan(vals []driver.Value, dest ...any) error {
	if len(vals) != len(dest) {
		return fmt.Errorf("query returned %d columns, want %d", len(vals), len(dest))
	}
	for i, v := range vals {
		if err := assign(dest[i], v); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case *time.Time:
		if t, ok := v.(time.Time); ok {
			*d = t
			return nil
		}
	case *string:
		switch x := v.(type) {
		case string:
			*d = x
			return nil
		case []byte:
			*d = string(x)
			return nil
		}
	case *int32:
		var n int64
		if err := assign(&n, v); err != nil {
			return err
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return fmt.Errorf("%d overflows int32", n)
		}
		*d = int32(n)
		return nil
	case *bool:
		var n int64
		if err := assign(&n, v); err != nil {
			return err
		}
		*d = n != 0
		return nil
	case *int64:
		switch x := v.(type) {
		case int64:
			*d = x
			return nil
		case uint64:
			if x > math.MaxInt64 {
				return fmt.Errorf("%d overflows int64", x)
			}
			*d = int64(x)
			return nil
		case []byte: // integers come as text outside prepared statements
			n, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return err
			}
			*d = n
			return nil
		}
	}
	return fmt.Errorf("cannot scan %T into %T", v, dest)
}

// named converts arguments the way database/sql would (the driver's own converter, so
// driver.Valuer types such as money amounts work).
func (s *Session) named(args []any) ([]driver.NamedValue, error) {
	out := make([]driver.NamedValue, len(args))
	checker, _ := s.conn.(driver.NamedValueChecker)
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		if checker != nil {
			if err := checker.CheckNamedValue(&out[i]); err == nil {
				continue
			} else if !errors.Is(err, driver.ErrSkip) {
				return nil, fmt.Errorf("argument %d: %w", i+1, err)
			}
		}
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out[i].Value = v
	}
	return out, nil
}
