package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

// TestBaselineScenario runs what `make bench-baseline` runs, briefly: the bare handler under the
// runner, INSERT+INSERT+COMMIT transactions on a scratch database that is dropped afterwards,
// and the broker's publish + ack rate through a scratch quorum queue that is deleted afterwards.
func TestBaselineScenario(t *testing.T) {
	testkit.RequireTCP(t, "MariaDB", "127.0.0.1:3306")
	testkit.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	out := t.TempDir()
	prefix := "t" + testkit.Suffix() + "-"
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "baseline", "-rate", "100", "-duration", "1s", "-out", out,
		"-mysql-dsn", testkit.MySQLRootDSN(), "-amqp-url", testkit.RabbitURL(), "-queue-prefix", prefix}, &stdout)
	require.NoError(t, err, stdout.String())
	assert.Contains(t, stdout.String(), "baseline: bare net/http")
	assert.Contains(t, stdout.String(), "INSERT+INSERT+COMMIT")
	m := regexp.MustCompile(`RabbitMQ quorum queue, persistent, confirmed publish \+ ack: (\d+) msg/s \((\d+) consumed of (\d+) published`).
		FindStringSubmatch(stdout.String())
	require.NotNil(t, m, stdout.String())
	consumed, _ := strconv.Atoi(m[2])
	published, _ := strconv.Atoi(m[3])
	assert.Positive(t, consumed)
	assert.LessOrEqual(t, consumed, published)
	assert.Regexp(t, `CPU per message: RabbitMQ \d+\.\d+ ms`, stdout.String())
	assert.Regexp(t, `broker limit at 1\.1 message\(s\) per order: RabbitMQ ≥ \d+\.\d+ ms of CPU per order = at most \d+ orders/s per broker core`, stdout.String())

	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	var sum map[string]any
	require.NoError(t, json.Unmarshal(raw, &sum))
	assert.Equal(t, "bare net/http", sum["scenario"])
	page, err := os.ReadFile(filepath.Join(out, "plot.html"))
	require.NoError(t, err)
	assert.Contains(t, string(page), "<svg")
}

func TestBadInvocations(t *testing.T) {
	var stdout bytes.Buffer
	assert.ErrorContains(t, run(context.Background(), []string{"-scenario", "nope", "-out", t.TempDir()}, &stdout), "unknown scenario")
	assert.Error(t, run(context.Background(), []string{"-no-such-flag"}, &stdout))
	// Services that are not there fail the setup clearly instead of reporting a run.
	err := run(context.Background(), []string{"-scenario", "orders", "-products", "http://127.0.0.1:1", "-orders", "http://127.0.0.1:1", "-out", t.TempDir()}, &stdout)
	assert.ErrorContains(t, err, "setup")
}

func TestStagesFollowTheOriginalShape(t *testing.T) {
	o := options{rate: 1000, startRate: 200, warm: 30e9, duration: 30e9}
	st := stages(&o)
	require.Len(t, st, 4)
	assert.Equal(t, 400.0, st[0].Target)
	assert.Equal(t, 700.0, st[1].Target)
	assert.Equal(t, 1000.0, st[3].Target)
	assert.Equal(t, "ramp 200→1000/s over 30s, then 1000/s for 30s", shape(o))
	o = options{rate: 500, startRate: 200}
	assert.Len(t, stages(&o), 1)
	assert.Equal(t, 500.0, o.startRate, "no warm-up starts at the steady rate")
	assert.Equal(t, "500/s for 0s, no warm-up", shape(o))

	// The steady-rate measurement: a flat warm-up at the rate, then the steady phase.
	o = options{rate: 1000, startRate: 1000, warm: 5e9, duration: 20e9}
	st = stages(&o)
	require.Len(t, st, 4)
	for _, s := range st {
		assert.Equal(t, 1000.0, s.Target)
	}
	assert.Equal(t, "warm-up 5s at 1000/s, then 1000/s for 20s", shape(o))
}

// -cpuprofile writes the runner's own CPU profile: a gzip-compressed pprof protobuf.
func TestCPUProfile(t *testing.T) {
	out := t.TempDir()
	prof := filepath.Join(out, "runner.pprof")
	var stdout bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-scenario", "bare", "-rate", "200", "-duration", "1s", "-out", out, "-cpuprofile", prof}, &stdout), stdout.String())
	f, err := os.Open(prof)
	require.NoError(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err, "a pprof profile is gzip-compressed")
	raw, err := io.ReadAll(z)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "nanoseconds", "the profile's sample unit (a CPU profile)")

	assert.ErrorContains(t, run(context.Background(), []string{"-scenario", "bare", "-cpuprofile", filepath.Join(out, "no", "such", "dir", "p")}, &stdout), "cpu profile")
}
