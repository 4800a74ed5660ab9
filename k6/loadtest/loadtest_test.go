package loadtest_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
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

	var out, page bytes.Buffer
	sum.Print(&out)
	assert.Contains(t, out.String(), "http_req_failed....: 0.00%")
	require.NoError(t, loadtest.WritePlot(&page, sum))
	assert.Contains(t, page.String(), "<svg")
	assert.NotContains(t, page.String(), "<script")

	// The standalone SVG (what the README shows) is well-formed XML with both charts.
	var img bytes.Buffer
	require.NoError(t, loadtest.WritePlotSVG(&img, sum))
	dec := xml.NewDecoder(bytes.NewReader(img.Bytes()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, img.String())
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "polyline" {
			polylines++
		}
	}
	assert.Equal(t, 5, polylines, "target, rate, p50, p95, p99")
}

func TestSagaQueues(t *testing.T) {
	assert.Equal(t, []string{"p_product-service__order-created", "p_product-service__order-created.dlq",
		"p_order-service__stock-results", "p_order-service__stock-results.dlq"}, loadtest.SagaQueues("p_"))
}

func TestStagedPacerFollowsTheRamp(t *testing.T) {
	p := loadtest.StagedPacer{Start: 200, Stages: []loadtest.Stage{{10 * time.Second, 400}, {10 * time.Second, 400}}}
	assert.InDelta(t, 200, p.Rate(0), 0.001)
	assert.InDelta(t, 300, p.Rate(5*time.Second), 0.001)
	assert.InDelta(t, 400, p.Rate(15*time.Second), 0.001)
	wait, stop := p.Pace(5*time.Second, 0)
	assert.False(t, stop)
	assert.Zero(t, wait, "behind schedule: no wait")
	// After 10 s the schedule has sent (200+400)/2*10 = 3000; the next hit is due 1/400 s later.
	wait, _ = p.Pace(10*time.Second, 3000)
	assert.InDelta(t, float64(2500*time.Microsecond), float64(wait), float64(50*time.Microsecond))
	_, stop = p.Pace(20*time.Second, 7000)
	assert.True(t, stop)
}
