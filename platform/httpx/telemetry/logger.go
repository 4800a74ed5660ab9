// Package telemetry owns what a request leaves behind for the operator: the JSON log every line
// of which carries the request ID (and the trace and span IDs when a span records), the access
// log, the HTTP metrics by route template, and the server span of each request.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/clients/requestid"
)

// contextHandler adds the request ID of the record's context to every log line, so a request and
// every message it causes can be found by one ID across both services' logs, and, when a span is
// recording, its trace and span IDs, so a log line leads to its trace and back.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := requestid.FromContext(ctx); id != "" {
		rec.AddAttrs(slog.String("requestId", id))
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		sc := span.SpanContext()
		rec.AddAttrs(slog.String("traceId", sc.TraceID().String()), slog.String("spanId", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// NewLogger returns a JSON slog logger that writes to w at level and adds the context's requestId.
// Durations are written in Go's human form ("30s", "1.5ms") rather than slog's integer
// nanoseconds, so the start-up config and the access log read as their env values are written.
func NewLogger(w io.Writer, level slog.Level, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: humanDurations})
	return slog.New(contextHandler{h}).With("service", service)
}

func humanDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, humanDuration(a.Value.Duration()))
	}
	return a
}

// humanDuration is d as Go writes it without the zero units at its end ("1m" for 1m0s, "24h"
// for 24h0m0s), which time.ParseDuration and so every *_TIMEOUT/_TTL variable accept back.
func humanDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
