package redisx_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/redisx"
)

func TestOpenSetsShortTimeouts(t *testing.T) {
	c, err := redisx.Open("redis://127.0.0.1:6379/2")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, redisx.Timeout, c.Options().ReadTimeout)
	assert.Equal(t, 2, c.Options().DB)
	_, err = redisx.Open("http://nope")
	assert.ErrorContains(t, err, "REDIS_URL")
}
