// Package dbx owns opening MySQL pools and applying a service's versioned migrations. Migrations are
// embedded SQL files applied by golang-migrate, whose MySQL driver holds GET_LOCK while migrating,
// so two replicas starting together never apply the same step twice.
package dbx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// PoolConfig sizes a connection pool.
type PoolConfig struct {
	MaxOpen     int
	MaxIdle     int
	MaxLifetime time.Duration
	// MultiStatements lets one round trip carry several statements (see Session). Give it only
	// to a pool dedicated to code that needs it.
	MultiStatements bool
}

// Open parses a go-sql-driver DSN, forces the options the services rely on (UTC times parsed into
// time.Time, interpolated parameters so a hot query is one round trip, bounded dial/read/write
// timeouts), opens the pool and pings it.
func Open(ctx context.Context, dsn string, pool PoolConfig) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse MySQL DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.MultiStatements = pool.MultiStatements
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure MySQL: %w", err)
	}
	db := sql.OpenDB(conn)
	if pool.MaxOpen <= 0 {
		pool.MaxOpen = 32
	}
	if pool.MaxIdle <= 0 || pool.MaxIdle > pool.MaxOpen {
		pool.MaxIdle = pool.MaxOpen
	}
	if pool.MaxLifetime <= 0 {
		pool.MaxLifetime = 30 * time.Minute
	}
	db.SetMaxOpenConns(pool.MaxOpen)
	db.SetMaxIdleConns(pool.MaxIdle)
	db.SetConnMaxLifetime(pool.MaxLifetime)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to MySQL %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return db, nil
}

// Migrate applies every pending migration found in dir of fsys (files NNNN_name.up.sql, one
// statement each) to the database of dsn, under the driver's lock. It opens its own connection
// so that the service's pool options are untouched.
func Migrate(dsn string, fsys fs.FS, dir string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("parse MySQL DSN: %w", err)
	}
	cfg.MultiStatements = true
	cfg.ParseTime = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("configure MySQL: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	src, err := iofs.New(fsys, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	drv, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		return fmt.Errorf("open migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, cfg.DBName, drv)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// URLToDSN converts the original product-service's DATABASE_URL (mysql://user:pass@host:3306/db)
// into a go-sql-driver DSN; a value that already is a DSN is returned unchanged.
func URLToDSN(url string) (string, error) {
	rest, ok := cutScheme(url)
	if !ok {
		return url, nil
	}
	userinfo, hostdb, found := cutLast(rest, "@")
	if !found {
		hostdb, userinfo = rest, ""
	}
	host, db, _ := cutFirst(hostdb, "/")
	db, query, _ := cutFirst(db, "?")
	if host == "" || db == "" {
		return "", fmt.Errorf("DATABASE_URL %q: want mysql://user:pass@host:port/db", redact(url))
	}
	dsn := ""
	if userinfo != "" {
		dsn = userinfo + "@"
	}
	dsn += "tcp(" + host + ")/" + db
	if query != "" {
		dsn += "?" + query
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL %q: %w", redact(url), err)
	}
	return cfg.FormatDSN(), nil
}

func cutScheme(s string) (string, bool) {
	for _, p := range []string{"mysql://", "mariadb://"} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):], true
		}
	}
	return s, false
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return "", s, false
}

func cutFirst(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// Redact hides the password of a DSN or URL for logs.
func Redact(s string) string { return redact(s) }

func redact(s string) string {
	at := -1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			at = i
			break
		}
	}
	if at < 0 {
		return s
	}
	start := 0
	if i := indexOf(s, "://"); i >= 0 && i < at {
		start = i + 3
	}
	colon := indexOf(s[start:at], ":")
	if colon < 0 {
		return s
	}
	return s[:start+colon+1] + "****" + s[at:]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// IsDuplicate reports whether err is MySQL's duplicate-key error (1062).
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// IsDeadlock reports whether err is InnoDB's deadlock error (1213): the transaction was rolled
// back and may simply be retried.
func IsDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// IsUnavailable reports whether err means the database could not be reached in time (→ 503).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1040 { // ER_CON_COUNT_ERROR: "Too many connections"
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "too many connections")
}

// Answered reports whether err was reported by the MySQL server for a statement it received and
// refused, as opposed to a lost, cut or timed-out connection — after which a COMMIT that was
// already sent may or may not have been applied.
func Answered(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me)
}

// WithTimeout bounds ctx by d unless it already ends sooner: every query of the services runs
// under a deadline, so a frozen database answers callers with an error instead of holding them.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
