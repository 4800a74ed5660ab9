package loadtest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
)

func TestSummarizeNearestRank(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	p := loadtest.Summarize(l)
	assert.Equal(t, time.Millisecond, p.Min)
	assert.Equal(t, 50*time.Millisecond, p.Med)
	assert.Equal(t, 95*time.Millisecond, p.P95)
	assert.Equal(t, 99*time.Millisecond, p.P99)
	assert.Equal(t, 100*time.Millisecond, p.Max)
	assert.Equal(t, 50500*time.Microsecond, p.Avg)
	assert.Equal(t, loadtest.Percentiles{}, loadtest.Summarize(nil))
}

func TestOriginalStagesMatchTheK6Script(t *testing.T) {
	var total time.Duration
	for _, s := range loadtest.OriginalStages() {
		total += s.Duration
	}
	assert.Equal(t, 60*time.Second, total)
	assert.Equal(t, 1000.0, loadtest.OriginalStages()[3].Target)
}

// TestBareRunCountsEveryRequest plays 2 s at 200/s against the bare handler (no timing asserted).
func TestBareRunCountsEveryRequest(t *testing.T) {
	url, stop, err := loadtest.BareServer()
	require.NoError(t, err)
	defer stop()
	var progress bytes.Buffer
	sum := loadtest.Attack{Name: "bare", StartRate: 200, Stages: []loadtest.Stage{{Duration: 2 * time.Second, Target: 200}},
		Targeter: loadtest.GetTargeter(url), Progress: &progress}.Run(context.Background())
	// The schedule is 400 hits; the pacer may send one more at the boundary.
	assert.InDelta(t, 400, sum.Requests, 2)
	assert.Zero(t, sum.Failed)
	assert.Equal(t, sum.Requests, sum.StatusCodes[200])
	assert.Contains(t, progress.String(), "target")

	var out bytes.Buffer
	sum.Print(&out)
	assert.Contains(t, out.String(), "http_req_failed.............: 0.00%  0 of ")
}

// Every second of the summary counts all requests sent in it, whatever their latency.
func TestSecondsCountEveryRequestOfTheSecondItWasSent(t *testing.T) {
	c := loadtest.NewCollector()
	for i := range 10 { // second 0: ten requests, the slowest 2 s
		c.Add(loadtest.Sample{At: time.Duration(i) * 90 * time.Millisecond, Latency: time.Duration(i+1) * 200 * time.Millisecond, Code: 201, Order: true})
	}
	c.Add(loadtest.Sample{At: 1500 * time.Millisecond, Latency: time.Millisecond, Code: 503, Failed: true})
	c.Add(loadtest.Sample{At: 2001 * time.Millisecond, Latency: time.Millisecond, Code: 201, Order: true}) // past the last whole second
	secs := c.Seconds(2*time.Second+5*time.Millisecond, func(sec int) float64 { return float64(100 * (sec + 1)) })
	require.Len(t, secs, 2)
	assert.Equal(t, loadtest.Second{Second: 0, Target: 100, Requests: 10, P50ms: 1000, P95ms: 2000, P99ms: 2000}, secs[0])
	assert.Equal(t, loadtest.Second{Second: 1, Target: 200, Requests: 1, Failed: 1, P50ms: 1, P95ms: 1, P99ms: 1}, secs[1])
	live := c.SecondStats(0, 100)
	assert.Equal(t, 10, live.Requests)

	steady := c.Since(time.Second)
	ms := loadtest.Percentiles{Min: time.Millisecond, Avg: time.Millisecond, Med: time.Millisecond, P90: time.Millisecond, P95: time.Millisecond, P99: time.Millisecond, Max: time.Millisecond}
	assert.Equal(t, loadtest.Phase{From: time.Second, Requests: 2, Failed: 1, Orders: 1, Latency: ms,
		ByStatus:              map[int]loadtest.StatusStats{201: {Count: 1, Latency: ms}, 503: {Count: 1, Latency: ms}},
		ShedWithoutRetryAfter: 1}, steady)
	assert.Len(t, c.Seconds(300*time.Millisecond, func(int) float64 { return 0 }), 1, "a run shorter than a second has one")
}

// Under overload the shed requests' latency is reported apart from the accepted ones'.
func TestTheSummaryGivesTheLatencyOfEachStatus(t *testing.T) {
	c := loadtest.NewCollector()
	for i := range 10 {
		c.Add(loadtest.Sample{At: time.Duration(i) * time.Millisecond, Latency: 100 * time.Millisecond, Code: 201, Order: true})
		c.Add(loadtest.Sample{At: time.Duration(i) * time.Millisecond, Latency: 2 * time.Millisecond, Code: 503, Failed: true})
	}
	sum := c.Summary("orders", time.Second, nil)
	assert.Equal(t, 100*time.Millisecond, sum.ByStatus[201].P95)
	assert.Equal(t, 2*time.Millisecond, sum.ByStatus[503].P95)
	var out bytes.Buffer
	sum.Print(&out)
	assert.Contains(t, out.String(), "duration of 503s")
	one := loadtest.NewCollector()
	one.Add(loadtest.Sample{Latency: time.Millisecond, Code: 201})
	assert.Nil(t, one.Summary("orders", time.Second, nil).ByStatus, "one status: nothing to split")
}
