package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WritePlot draws achieved rate and p50/p95/p99 latency per second as a self-contained HTML
// page with inline SVG (no scripts, no external files), so it opens anywhere.
func WritePlot(w io.Writer, s Summary) error { return plotPage.Execute(w, plotData(s)) }

// WritePlotSVG draws the same two charts as one standalone SVG image (for the README).
func WritePlotSVG(w io.Writer, s Summary) error { return plotSVG.Execute(w, plotData(s)) }

func plotData(s Summary) map[string]any {
	const width, height, pad = 900.0, 300.0, 40.0
	maxRate, maxLat := 1.0, 1.0
	for _, sec := range s.Seconds {
		maxRate = max(maxRate, float64(sec.Requests), sec.Target)
		maxLat = max(maxLat, sec.P99ms)
	}
	n := max(len(s.Seconds), 2)
	x := func(i int) float64 { return pad + float64(i)*(width-2*pad)/float64(n-1) }
	line := func(val func(Second) float64, top float64) string {
		var b strings.Builder
		for i, sec := range s.Seconds {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(i), height-pad-val(sec)/top*(height-2*pad))
		}
		return b.String()
	}
	return map[string]any{
		"Title": fmt.Sprintf("%s — %d requests, %.1f/s, p95 %.2f ms, %.2f%% failed", s.Scenario, s.Requests, s.Rate, ms(s.Latency.P95), 100*s.FailedRate),
		"W":     width, "H": height,
		"Rate":    line(func(x Second) float64 { return float64(x.Requests) }, maxRate),
		"Target":  line(func(x Second) float64 { return x.Target }, maxRate),
		"P50":     line(func(x Second) float64 { return x.P50ms }, maxLat),
		"P95":     line(func(x Second) float64 { return x.P95ms }, maxLat),
		"P99":     line(func(x Second) float64 { return x.P99ms }, maxLat),
		"MaxRate": fmt.Sprintf("%.0f/s", maxRate),
		"MaxLat":  fmt.Sprintf("%.1f ms", maxLat),
		"Secs":    len(s.Seconds),
		// Layout of the standalone SVG: title, chart 1 at y=50, label, chart 2 below it.
		"SvgH": 2*height + 90, "Label2Y": height + 72, "Chart2Y": height + 80,
	}
}

var plotPage = template.Must(template.New("plot").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:20px}svg{background:#fafafa;border:1px solid #ddd}.k{font-size:12px}</style></head>
<body><h2>{{.Title}}</h2>
<h3>Throughput (requests per second; dashed: target rate; top = {{.MaxRate}})</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="{{.Target}}"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{{.Rate}}"/>
<text class="k" x="40" y="20">0 … {{.Secs}} s</text></svg>
<h3>Latency per second (p50 green, p95 orange, p99 red; top = {{.MaxLat}})</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
<polyline fill="none" stroke="#2ca02c" stroke-width="2" points="{{.P50}}"/>
<polyline fill="none" stroke="#ff7f0e" stroke-width="2" points="{{.P95}}"/>
<polyline fill="none" stroke="#d62728" stroke-width="2" points="{{.P99}}"/>
<text class="k" x="40" y="20">0 … {{.Secs}} s</text></svg>
</body></html>
`))

var plotSVG = template.Must(template.New("svg").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.SvgH}}" viewBox="0 0 {{.W}} {{.SvgH}}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" font-size="15">{{.Title}}</text>
<text x="10" y="48" font-size="12">Throughput, requests per second (blue; dashed: target rate; top = {{.MaxRate}})</text>
<g transform="translate(0,50)"><rect width="{{.W}}" height="{{.H}}" fill="#fafafa" stroke="#ddd"/>
<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="{{.Target}}"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{{.Rate}}"/>
<text font-size="12" x="40" y="20">0 … {{.Secs}} s</text></g>
<text x="10" y="{{.Label2Y}}" font-size="12">Latency per second, ms (p50 green, p95 orange, p99 red; top = {{.MaxLat}})</text>
<g transform="translate(0,{{.Chart2Y}})"><rect width="{{.W}}" height="{{.H}}" fill="#fafafa" stroke="#ddd"/>
<polyline fill="none" stroke="#2ca02c" stroke-width="2" points="{{.P50}}"/>
<polyline fill="none" stroke="#ff7f0e" stroke-width="2" points="{{.P95}}"/>
<polyline fill="none" stroke="#d62728" stroke-width="2" points="{{.P99}}"/>
<text font-size="12" x="40" y="20">0 … {{.Secs}} s</text></g>
</svg>
`))
