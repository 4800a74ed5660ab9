package loadtest_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
)

// aRun is a finished order run: 10 s, a 4 s warm-up, 3 failures in second 6, CPU measured
// over the last 6 s.
func aRun() loadtest.Summary {
	s := loadtest.Summary{Scenario: "orders", Shape: "ramp 50→100/s over 4s, then 100/s for 6s",
		Requests: 900, Failed: 3, FailedRate: 3.0 / 900, Orders: 897, Duration: 10 * time.Second, Rate: 90,
		Latency:     loadtest.Percentiles{Min: 800 * time.Microsecond, Avg: 3 * time.Millisecond, Med: 2 * time.Millisecond, P90: 5 * time.Millisecond, P95: 7 * time.Millisecond, P99: 12 * time.Millisecond, Max: 40 * time.Millisecond},
		StatusCodes: map[int]int{201: 897, 503: 2, 0: 1},
		Setup:       &loadtest.Setup{Requests: 3, Orders: 1},
		Invariants:  "898 orders: 898 CONFIRMED, 0 REJECTED, 0 PENDING", InvariantOK: true,
	}
	for i := range 10 {
		sec := loadtest.Second{Second: i, Target: min(100, 50+float64(i)*12.5), Requests: 90, P50ms: 2, P95ms: 7, P99ms: 12}
		if i == 6 {
			sec.Failed = 3
		}
		s.Seconds = append(s.Seconds, sec)
	}
	s.Check(300*time.Millisecond, 0.01, true)
	s.Steady = &loadtest.Phase{From: 4 * time.Second, Requests: 600, Failed: 3, Orders: 597,
		Latency: loadtest.Percentiles{Avg: 2 * time.Millisecond, Med: time.Millisecond, P90: 3 * time.Millisecond, P95: 4 * time.Millisecond, P99: 9 * time.Millisecond, Max: 20 * time.Millisecond}}
	s.CPU = &loadtest.CPU{From: 4 * time.Second, Window: 6 * time.Second, Cores: 2, Requests: 600, Orders: 600,
		Processes: []loadtest.ProcessCPU{
			{Name: "order-service", PID: 10, Seconds: 0.3, Cores: 0.05, MsPerOrder: 0.5, MsPerRequest: 0.5},
			{Name: "Redis", Missing: "no process named redis-server"},
		},
		Listed:              loadtest.ProcessCPU{Name: "Σ processes above", Seconds: 0.3, MsPerOrder: 0.5},
		Other:               loadtest.ProcessCPU{Name: "other processes", Seconds: 0.3, MsPerOrder: 0.5},
		Box:                 loadtest.ProcessCPU{Name: "whole machine", Seconds: 0.6, Cores: 0.1, MsPerOrder: 1, MsPerRequest: 1},
		OrdersPerSecPerCore: 1000, OrdersPerSecPerCoreListed: 2000,
	}
	return s
}

// The text summary reads like k6's: thresholds marked ✓/✗ with their limits, no Go syntax,
// setup requests and orders reconciled, and the CPU table of the measured window.
func TestSummaryPrintIsReadable(t *testing.T) {
	s := aRun()
	s.Thresholds.FailedOK = false
	var out bytes.Buffer
	s.Print(&out)
	text := out.String()
	t.Log(text)
	assert.NotContains(t, text, "map[")
	assert.Contains(t, text, "✓ http_req_duration p(95)<300ms")
	assert.Contains(t, text, "✗ http_req_failed rate<1.00%")
	assert.Contains(t, text, "p(95)=7.00ms")
	assert.Contains(t, text, "3 of 900")
	assert.Contains(t, text, "steady phase, from 4s on (the warm-up excluded):")
	assert.Contains(t, text, "med=1.00ms p(90)=3.00ms p(95)=4.00ms p(99)=9.00ms max=20.00ms")
	assert.Contains(t, text, "0.50%  3 of 600")
	assert.Contains(t, text, "201: 897, 503: 2, no response: 1")
	assert.Contains(t, text, "3 requests before the run")
	assert.Contains(t, text, "897 accepted in the run + 1 setup = 898")
	assert.Contains(t, text, "✓ 898 orders")
	assert.Regexp(t, `order-service\s+10\s+0\.30\s+0\.05\s+0\.500`, text)
	assert.Contains(t, text, "Redis")
	assert.Contains(t, text, "not measured: no process named redis-server")
	assert.Contains(t, text, "orders/s per core...........: 1000  (1000 ÷ 1.000 ms of machine CPU per order)")

	assert.NotContains(t, text, "the services were behind")

	s.Thresholds.Enforced = false
	s.Settled = 12 * time.Second
	out.Reset()
	s.Print(&out)
	assert.Contains(t, out.String(), "(reported, not enforced)")
	assert.Contains(t, out.String(), "the services were behind: the last order became final 12s after the run")
}

// The SVG is a real chart: well-formed, axes with labels and units, tick labels, a legend
// naming every series and threshold, and the CPU bars.
func TestPlotSVGHasAxesLegendThresholdsAndCPU(t *testing.T) {
	var img bytes.Buffer
	require.NoError(t, loadtest.WritePlotSVG(&img, aRun()))
	texts := svgTexts(t, img.Bytes())
	for _, want := range []string{
		"time since start (s)", "requests per second", "latency (ms, log scale)", "failed (% of the second's requests)",
		"target rate", "achieved (requests sent)", "failed", "p50", "p95", "p99", "measured window (CPU table)",
		"threshold p(95) < 300ms", "threshold rate < 1.00%",
		"CPU per order (ms)", "order-service", "whole machine", "other processes", "shop processes (Σ)", "0.500", "1.000",
		"0", "5", "10", // time axis ticks
	} {
		assert.Contains(t, texts, want)
	}
	assert.NotContains(t, texts, "Redis", "a process that was not measured has no bar")
	assert.Contains(t, texts, "latency per second — whole run: p50 2.00ms, p95 7.00ms, p99 12.00ms")
	assert.Contains(t, texts, "steady phase (CPU window): p50 1.00ms, p95 4.00ms, p99 9.00ms")
	assert.Contains(t, texts, "CPU per order over the measured window (6s, 600 orders)")
	assert.Contains(t, texts, "machine 1.000 ms, shop processes 0.500 ms = 1000 and 2000 orders/s per core")
}

// Without a CPU table (no /proc, or a run stopped early) the report still draws the time charts.
func TestPlotWithoutCPUOrRequests(t *testing.T) {
	s := aRun()
	s.CPU = nil
	var img bytes.Buffer
	require.NoError(t, loadtest.WritePlotSVG(&img, s))
	texts := svgTexts(t, img.Bytes())
	assert.Contains(t, texts, "p95")
	assert.NotContains(t, texts, "measured window (CPU table)")
	assert.NotContains(t, texts, "CPU per order (ms)")

	img.Reset()
	require.NoError(t, loadtest.WritePlotSVG(&img, loadtest.Summary{Scenario: "empty"}), "a run stopped before its first second")
	svgTexts(t, img.Bytes())
}

// The HTML report works offline: the summary and the SVG inline, no script, no external file.
func TestReportIsSelfContained(t *testing.T) {
	var page bytes.Buffer
	require.NoError(t, loadtest.WriteReport(&page, aRun()))
	html := page.String()
	for _, want := range []string{"<svg", "orders/s per core", "897 accepted in the run &#43; 1 setup = 898", "http_req_duration p(95)&lt;300ms"} {
		assert.True(t, strings.Contains(html, want), want)
	}
	for _, unwanted := range []string{"<?xml", "<script", "src=", "href="} {
		assert.False(t, strings.Contains(html, unwanted), unwanted)
	}
}

// svgTexts parses the SVG and returns the content of its text elements.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "well-formed SVG")
		switch el := tok.(type) {
		case xml.StartElement:
			inText = el.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	require.NotEmpty(t, texts)
	return texts
}
