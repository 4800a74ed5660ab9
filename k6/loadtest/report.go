package loadtest

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The report is drawn with gonum/plot: axes with ticks and units, legends, no scripts and no
// network, so the SVG renders anywhere (the README shows it) and the HTML page opens offline.

var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	green  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	grey   = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
	window = color.RGBA{R: 0xff, G: 0xf0, B: 0xc0, A: 0xff}
	dashed = []vg.Length{vg.Points(5), vg.Points(3)}
)

// WritePlotSVG draws the run as one SVG image: throughput, latency percentiles and errors per
// second with the thresholds and the measured window, and the CPU per order of each process.
func WritePlotSVG(w io.Writer, s Summary) error {
	plots, err := charts(s)
	if err != nil {
		return err
	}
	const rowHeight = 7 * vg.Centimeter
	c := vgsvg.New(24*vg.Centimeter, vg.Length(len(plots))*rowHeight)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(14)}
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(rows, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// WriteReport writes a self-contained HTML page: the text summary and the plot inline.
func WriteReport(w io.Writer, s Summary) error {
	var text, img bytes.Buffer
	s.Print(&text)
	if err := WritePlotSVG(&img, s); err != nil {
		return err
	}
	svg := img.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:] // drop the XML prolog: the image is inlined in HTML
	}
	return reportPage.Execute(w, map[string]any{
		"Title": s.Scenario, "Summary": text.String(), "SVG": template.HTML(svg), // our own renderer's output, not user input
	})
}

var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>load run: {{.Title}}</title>
<style>body{font-family:sans-serif;margin:20px;max-width:1000px}pre{background:#f6f6f6;padding:12px;overflow-x:auto}</style></head>
<body><h1>load run: {{.Title}}</h1>
<pre>{{.Summary}}</pre>
{{.SVG}}
</body></html>
`))

func charts(s Summary) ([]*plot.Plot, error) {
	var out []*plot.Plot
	for _, build := range []func(Summary) (*plot.Plot, error){throughputChart, latencyChart, errorChart, goroutineChart, rssChart, cpuChart} {
		p, err := build(s)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		if p != nil {
			sans(p)
			out = append(out, p)
		}
	}
	return out, nil
}

// timeChart is a chart over the seconds of the run, with the measured window shaded behind
// the grid between y0 and y1 (the data's y range).
func timeChart(s Summary, title, yLabel string, y0, y1 float64) (*plot.Plot, error) {
	var from, to float64
	label := ""
	if c := s.CPU; c != nil && c.Window > 0 {
		from, to, label = c.From.Seconds(), (c.From + c.Window).Seconds(), "measured window (CPU table)"
	}
	return shadedChart(title, yLabel, 0, float64(max(len(s.Seconds), 1)), y0, y1, from, to, label)
}

// shadedChart is a chart over seconds, x0..x1 by y0..y1, with its grid and, when label is not
// "", the span from..to shaded behind it and named in the legend.
func shadedChart(title, yLabel string, x0, x1, y0, y1, from, to float64, label string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = yLabel
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = x0, x1, y0, y1
	if label != "" {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: from, Y: y0}, {X: to, Y: y0}, {X: to, Y: y1}, {X: from, Y: y1}})
		if err != nil {
			return nil, err
		}
		poly.Color, poly.LineStyle.Width = window, 0
		p.Add(poly)
		p.Legend.Add(label, poly)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// series is one value per second, at the middle of its second; skip drops a second.
func series(secs []Second, val func(Second) float64, skip func(Second) bool) plotter.XYs {
	var xys plotter.XYs
	for _, s := range secs {
		if skip != nil && skip(s) {
			continue
		}
		xys = append(xys, plotter.XY{X: float64(s.Second) + 0.5, Y: val(s)})
	}
	return xys
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dash []vg.Length) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color, l.Width, l.Dashes = c, vg.Points(1.5), dash
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func horizontal(p *plot.Plot, name string, y float64, secs []Second) error {
	end := float64(max(len(secs), 1))
	return addLine(p, name, plotter.XYs{{X: 0, Y: y}, {X: end, Y: y}}, red, dashed)
}

func throughputChart(s Summary) (*plot.Plot, error) {
	top := 1.0
	for _, sec := range s.Seconds {
		top = max(top, sec.Target, float64(sec.Requests))
	}
	p, err := timeChart(s, fmt.Sprintf("%s — throughput: %d requests, %.1f/s", s.Scenario, s.Requests, s.Rate),
		"requests per second", 0, top*1.6) // room for the legend
	if err != nil {
		return nil, err
	}
	for _, l := range []struct {
		name string
		val  func(Second) float64
		c    color.Color
		dash []vg.Length
	}{
		{"target rate", func(x Second) float64 { return x.Target }, grey, dashed},
		{"achieved (requests sent)", func(x Second) float64 { return float64(x.Requests) }, blue, nil},
		{"failed", func(x Second) float64 { return float64(x.Failed) }, red, nil},
	} {
		if err := addLine(p, l.name, series(s.Seconds, l.val, nil), l.c, l.dash); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func latencyChart(s Summary) (*plot.Plot, error) {
	lo, hi := math.Inf(1), 0.0
	for _, sec := range s.Seconds {
		if sec.Requests > 0 {
			lo, hi = min(lo, sec.P50ms), max(hi, sec.P99ms)
		}
	}
	if s.Thresholds != nil {
		hi = max(hi, ms(s.Thresholds.P95Max))
	}
	if hi <= 0 {
		lo, hi = 0.1, 1
	}
	lo = max(min(lo, hi)/2, 0.01)
	hi *= 3
	title := fmt.Sprintf("latency per second — whole run: p50 %s, p95 %s, p99 %s",
		fmtDuration(s.Latency.Med), fmtDuration(s.Latency.P95), fmtDuration(s.Latency.P99))
	if st := s.Steady; st != nil && st.From > 0 {
		title += fmt.Sprintf("\nsteady phase (CPU window): p50 %s, p95 %s, p99 %s", fmtDuration(st.Latency.Med), fmtDuration(st.Latency.P95), fmtDuration(st.Latency.P99))
	}
	p, err := timeChart(s, title, "latency (ms, log scale)", lo, hi)
	if err != nil {
		return nil, err
	}
	idle := func(x Second) bool { return x.Requests == 0 }
	for _, l := range []struct {
		name string
		val  func(Second) float64
		c    color.Color
	}{
		{"p50", func(x Second) float64 { return max(x.P50ms, lo) }, green},
		{"p95", func(x Second) float64 { return max(x.P95ms, lo) }, orange},
		{"p99", func(x Second) float64 { return max(x.P99ms, lo) }, red},
	} {
		if err := addLine(p, l.name, series(s.Seconds, l.val, idle), l.c, nil); err != nil {
			return nil, err
		}
	}
	if t := s.Thresholds; t != nil {
		if err := horizontal(p, "threshold p(95) < "+t.P95Max.String(), ms(t.P95Max), s.Seconds); err != nil {
			return nil, err
		}
	}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, decadeTicks{}
	return p, nil
}

func errorChart(s Summary) (*plot.Plot, error) {
	top := 1.0
	for _, sec := range s.Seconds {
		if sec.Requests > 0 {
			top = max(top, 100*float64(sec.Failed)/float64(sec.Requests))
		}
	}
	if s.Thresholds != nil {
		top = max(top, 200*s.Thresholds.FailedRateMax)
	}
	p, err := timeChart(s, fmt.Sprintf("errors per second — whole run: %d of %d failed (%.2f%%)", s.Failed, s.Requests, 100*s.FailedRate),
		"failed (% of the second's requests)", 0, top*1.6)
	if err != nil {
		return nil, err
	}
	pct := func(x Second) float64 { return 100 * float64(x.Failed) / float64(x.Requests) }
	if err := addLine(p, "failed", series(s.Seconds, pct, func(x Second) bool { return x.Requests == 0 }), red, nil); err != nil {
		return nil, err
	}
	if t := s.Thresholds; t != nil {
		if err := horizontal(p, fmt.Sprintf("threshold rate < %.2f%%", 100*t.FailedRateMax), 100*t.FailedRateMax, s.Seconds); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// serviceChart is a line per service of one figure of its /metrics over the run, from before
// its start to the end of the recovery, with the overload shaded; on a log scale when logScale
// (goroutines: a few dozen at rest, thousands under overload).
func serviceChart(s Summary, title, yLabel string, val func(Scrape) float64, top float64, logScale bool) (*plot.Plot, error) {
	o := s.Overload
	lines := make([]plotter.XYs, len(o.Services))
	x0, x1, lo := 0.0, o.Plan.End().Seconds(), math.Inf(1)
	for i, svc := range o.Services {
		for _, sc := range svc.ScrapeLog {
			if sc.Error != "" {
				continue
			}
			x := sc.At.Sub(s.Started).Seconds()
			lines[i] = append(lines[i], plotter.XY{X: x, Y: val(sc)})
			x0, x1, lo, top = min(x0, x), max(x1, x), min(lo, val(sc)), max(top, val(sc))
		}
	}
	y0, y1 := 0.0, max(top*1.6, 1) // room for the legend
	if logScale {
		y0 = max(min(lo, top)/2, 1)
		y1 = max(top*8, y0*10)
		for _, l := range lines {
			for j := range l {
				l[j].Y = max(l[j].Y, y0)
			}
		}
	}
	p, err := shadedChart(title, yLabel, math.Floor(x0), math.Ceil(x1), y0, y1,
		o.Plan.Warm.Seconds(), o.Plan.End().Seconds(), fmt.Sprintf("overload (%.0f/s)", o.Plan.Rate))
	if err != nil {
		return nil, err
	}
	for i, svc := range o.Services {
		if err := addLine(p, svc.Name, lines[i], serviceColors[i%len(serviceColors)], nil); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = secondTicks{}
	if logScale {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, decadeTicks{}
	}
	return p, nil
}

// secondTicks marks every second and labels every fifth, as the time charts above read.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for x := math.Ceil(lo); x <= hi; x++ {
		t := plot.Tick{Value: x}
		if int(x)%5 == 0 {
			t.Label = strconv.Itoa(int(x))
		}
		ticks = append(ticks, t)
	}
	return ticks
}

var serviceColors = []color.Color{blue, orange, green}

// goroutineChart shows each service's goroutines and the level at which they count as back at
// their baseline after the overload.
func goroutineChart(s Summary) (*plot.Plot, error) {
	if s.Overload == nil {
		return nil, nil
	}
	var back []string
	for _, svc := range s.Overload.Services {
		if svc.Recovered {
			back = append(back, fmt.Sprintf("%s back %s after", svc.Name, fmtDuration(svc.RecoveredAfter)))
		} else {
			back = append(back, svc.Name+" not back")
		}
	}
	p, err := serviceChart(s, "goroutines per service (go_goroutines) — "+strings.Join(back, ", "), "goroutines (log scale)",
		func(sc Scrape) float64 { return sc.Goroutines }, 0, true)
	if err != nil || p == nil {
		return p, err
	}
	end := s.Overload.Plan.End().Seconds()
	for i, svc := range s.Overload.Services {
		if svc.GoroutinesBackAt <= 0 {
			continue
		}
		xys := plotter.XYs{{X: end, Y: svc.GoroutinesBackAt}, {X: p.X.Max, Y: svc.GoroutinesBackAt}}
		if err := addLine(p, fmt.Sprintf("%s back at ≤ %.0f", svc.Name, svc.GoroutinesBackAt), xys, serviceColors[i%len(serviceColors)], dashed); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// rssChart shows each service's resident memory against the threshold.
func rssChart(s Summary) (*plot.Plot, error) {
	if s.Overload == nil {
		return nil, nil
	}
	limit := s.Overload.Limits.RSSBytes / 1e6
	p, err := serviceChart(s, "resident memory per service (process_resident_memory_bytes)", "RSS (MB)",
		func(sc Scrape) float64 { return sc.RSSBytes / 1e6 }, limit, false)
	if err != nil || p == nil || limit <= 0 {
		return p, err
	}
	if err := addLine(p, fmt.Sprintf("threshold RSS ≤ %.0f MB", limit), plotter.XYs{{X: p.X.Min, Y: limit}, {X: p.X.Max, Y: limit}}, red, dashed); err != nil {
		return nil, err
	}
	return p, nil
}

// cpuChart is one bar per process (blue), then their sum, the rest of the machine and the whole
// machine (grey), top to bottom, in ms of CPU per order (per request when the run placed no orders).
func cpuChart(s Summary) (*plot.Plot, error) {
	c := s.CPU
	if c == nil {
		return nil, nil
	}
	perOrder := c.Orders > 0
	per := func(x ProcessCPU) float64 {
		if perOrder {
			return x.MsPerOrder
		}
		return x.MsPerRequest
	}
	type bar struct {
		name    string
		v       float64
		summary bool
	}
	var rows []bar
	for _, x := range c.Processes {
		if x.Missing == "" {
			rows = append(rows, bar{x.Name, per(x), false})
		}
	}
	rows = append(rows, bar{"shop processes (Σ)", per(c.Listed), true}, bar{c.Other.Name, per(c.Other), true}, bar{c.Box.Name, per(c.Box), true})
	slices.Reverse(rows) // the first row at the top

	p := plot.New()
	unit, n := "order", c.Orders
	if !perOrder {
		unit, n = "request", c.Requests
	}
	p.Title.Text = fmt.Sprintf("CPU per %s over the measured window (%s, %d %ss)\nmachine %.3f ms, shop processes %.3f ms",
		unit, c.Window.Round(100*time.Millisecond), n, unit, per(c.Box), per(c.Listed))
	if perOrder {
		p.Title.Text += fmt.Sprintf(" = %.0f and %.0f orders/s per core", c.OrdersPerSecPerCore, c.OrdersPerSecPerCoreListed)
	}
	p.X.Label.Text = "CPU per " + unit + " (ms)"
	procs, sums := make(plotter.Values, len(rows)), make(plotter.Values, len(rows))
	var names []string
	var labels plotter.XYLabels
	top := 0.0
	for i, r := range rows {
		if r.summary {
			sums[i] = r.v
		} else {
			procs[i] = r.v
		}
		names = append(names, r.name)
		labels.XYs = append(labels.XYs, plotter.XY{X: r.v, Y: float64(i)})
		labels.Labels = append(labels.Labels, " "+strconv.FormatFloat(r.v, 'f', 3, 64))
		top = max(top, r.v)
	}
	p.Add(plotter.NewGrid())
	for _, b := range []struct {
		vals plotter.Values
		c    color.Color
	}{{procs, blue}, {sums, grey}} {
		bars, err := plotter.NewBarChart(b.vals, vg.Points(11))
		if err != nil {
			return nil, err
		}
		bars.Horizontal, bars.Color, bars.LineStyle.Width = true, b.c, 0
		p.Add(bars)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].YAlign = draw.YCenter
		l.TextStyle[i].Font.Typeface, l.TextStyle[i].Font.Variant = "Liberation", "Sans"
	}
	p.Add(l)
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, max(top*1.15, 1e-3) // room for the value labels
	return p, nil
}

// decadeTicks labels 1, 2 and 5 × each power of ten on a log axis (only the powers of ten when
// the axis spans more than three decades, the others then unlabelled).
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	wide := math.Log10(hi/lo) > 3
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || !wide {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// sans sets every text of a plot in Liberation Sans (gonum's fonts are embedded in the binary;
// the default is a serif).
func sans(p *plot.Plot) {
	f := func(x *font.Font) { x.Typeface, x.Variant = "Liberation", "Sans" }
	f(&p.Title.TextStyle.Font)
	f(&p.Legend.TextStyle.Font)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		f(&a.Label.TextStyle.Font)
		f(&a.Tick.Label.Font)
	}
	p.Title.TextStyle.Font.Size = vg.Points(11)
}
