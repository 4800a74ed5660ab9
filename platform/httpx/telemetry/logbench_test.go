package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

// BenchmarkLogLine is one log line of a request (the access log's) with tracing off: what the
// traceId/spanId lookup adds to every line when no span records.
func BenchmarkLogLine(b *testing.B) {
	log := telemetry.NewLogger(io.Discard, slog.LevelInfo, "bench")
	ctx := requestid.NewContext(context.Background(), "req-1")
	for range 8 { // a request's context is several layers deep by the time it logs
		ctx = context.WithValue(ctx, new(int), 1)
	}
	b.ReportAllocs()
	for b.Loop() {
		log.LogAttrs(ctx, slog.LevelInfo, "http request", slog.String("method", "GET"), slog.Int("status", 200))
	}
}
