package testkit_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shopworks/shop/platform/testkit"
)

// fakeTB records how a helper ended the test: like testing.T, Fatalf and Skipf stop the
// goroutine that calls them.
type fakeTB struct {
	testing.TB
	mu          sync.Mutex
	fatal, skip string
	cleanups    []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, a...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, a ...any) {
	f.mu.Lock()
	f.skip = fmt.Sprintf(format, a...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with a fresh fakeTB on its own goroutine and returns how it ended.
func run(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	for _, c := range f.cleanups {
		c()
	}
	return f
}

func TestUnavailableFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "")
	f := run(t, func(tb testing.TB) { testkit.Unavailable(tb, "Redis", errors.New("refused")) })
	assert.Contains(t, f.skip, "Redis unavailable")
	assert.Empty(t, f.fatal)

	t.Setenv("CI", "true")
	f = run(t, func(tb testing.TB) { testkit.Unavailable(tb, "Redis", errors.New("refused")) })
	assert.Contains(t, f.fatal, "Redis is required under CI")
	assert.Empty(t, f.skip)
}

func TestRequireTCP(t *testing.T) {
	t.Setenv("CI", "true")
	f := run(t, func(tb testing.TB) { testkit.RequireTCP(tb, "nothing", "127.0.0.1:1") })
	assert.Contains(t, f.fatal, "nothing is required under CI")
	f = run(t, func(tb testing.TB) { testkit.RequireTCP(tb, "MariaDB", "127.0.0.1:3306") })
	assert.Empty(t, f.fatal+f.skip, "a listening port passes")
}

func TestNewDatabaseReportsABadOrUnreachableServer(t *testing.T) {
	t.Setenv("CI", "true")
	t.Setenv("MYSQL_TEST_DSN", "not a dsn")
	f := run(t, func(tb testing.TB) { testkit.NewDatabase(tb, "x") })
	assert.Contains(t, f.fatal, "MYSQL_TEST_DSN")

	t.Setenv("MYSQL_TEST_DSN", "root@tcp(127.0.0.1:1)/")
	f = run(t, func(tb testing.TB) { testkit.NewDatabase(tb, "x") })
	assert.Contains(t, f.fatal, "MariaDB/MySQL is required under CI")
}

func TestEnvAndNames(t *testing.T) {
	t.Setenv("REDIS_TEST_ADDR", "")
	assert.Equal(t, "127.0.0.1:6379", testkit.RedisAddr())
	t.Setenv("REDIS_TEST_ADDR", "redis:6380")
	assert.Equal(t, "redis:6380", testkit.RedisAddr())
	a, b := testkit.Suffix(), testkit.Suffix()
	assert.Len(t, a, 10)
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(testkit.KeyPrefix(t), "test:"))
}
