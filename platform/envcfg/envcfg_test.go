package envcfg_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/envcfg"
)

func TestReaderCollectsEveryBadValue(t *testing.T) {
	env := map[string]string{"S": " x ", "I": "7", "BADI": "seven", "D": "2s", "BADD": "-1s", "L": "a, b,,c"}
	r := envcfg.New(func(k string) string { return env[k] })
	assert.Equal(t, "x", r.Str("S", "d"))
	assert.Equal(t, "d", r.Str("MISSING", "d"))
	assert.Equal(t, 7, r.Int("I", 1))
	assert.Equal(t, 1, r.Int("BADI", 1))
	assert.Equal(t, 2*time.Second, r.Duration("D", time.Second))
	assert.Equal(t, time.Second, r.Duration("BADD", time.Second))
	assert.Equal(t, []string{"a", "b", "c"}, r.List("L"))
	assert.Nil(t, r.List("MISSING"))
	err := r.Err()
	assert.ErrorContains(t, err, "BADI: not an integer")
	assert.ErrorContains(t, err, "BADD")
	assert.NoError(t, envcfg.New(func(string) string { return "" }).Err())
}

func TestDurationOrZeroAcceptsZeroForOff(t *testing.T) {
	env := map[string]string{"ZERO": "0", "D": "100ms", "NEG": "-1ms", "BAD": "soon"}
	r := envcfg.New(func(k string) string { return env[k] })
	assert.Zero(t, r.DurationOrZero("ZERO", time.Second))
	assert.Equal(t, 100*time.Millisecond, r.DurationOrZero("D", time.Second))
	assert.Equal(t, time.Second, r.DurationOrZero("MISSING", time.Second))
	assert.Equal(t, time.Second, r.DurationOrZero("NEG", time.Second))
	assert.Equal(t, time.Second, r.DurationOrZero("BAD", time.Second))
	err := r.Err()
	assert.ErrorContains(t, err, "NEG")
	assert.ErrorContains(t, err, "BAD")
	assert.NotContains(t, err.Error(), "ZERO")
}

func TestAliasTakesEitherNameAndRefusesAConflict(t *testing.T) {
	read := func(env map[string]string) (string, error) {
		r := envcfg.New(func(k string) string { return env[k] })
		v := r.Alias("orders", "AMQP_EXCHANGE", "RABBIT_EXCHANGE")
		return v, r.Err()
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "orders"},
		{map[string]string{"RABBIT_EXCHANGE": "legacy"}, "legacy"},
		{map[string]string{"AMQP_EXCHANGE": "shop"}, "shop"},
		{map[string]string{"AMQP_EXCHANGE": "shop", "RABBIT_EXCHANGE": " shop "}, "shop"},
	} {
		got, err := read(tc.env)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%v", tc.env)
	}
	_, err := read(map[string]string{"AMQP_EXCHANGE": "shop", "RABBIT_EXCHANGE": "orders"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `RABBIT_EXCHANGE: "orders" differs from AMQP_EXCHANGE="shop"`)
}
