package httpx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
)

// contextHandler adds the request ID of the record's context to every log line, so a request and
// every message it causes can be found by one ID across both services' logs, and, when a span is
// recording, its trace and span IDs, so a log line leads to its trace and back.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
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
		return slog.String(a.Key, HumanDuration(a.Value.Duration()))
	}
	return a
}

// HumanDuration is d as Go writes it without the zero units at its end ("1m" for 1m0s, "24h"
// for 24h0m0s), which time.ParseDuration and so every *_TIMEOUT/_TTL variable accept back.
func HumanDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// statusRecorder remembers the status and size of a response for the access log and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// AccessLogMode says which requests the access log writes at info level.
type AccessLogMode int

const (
	// AccessLogErrors (the default) keeps the log useful at a thousand requests a second: 5xx at
	// warn, 4xx and slow requests at info, every other request at debug (LOG_LEVEL=debug shows it).
	AccessLogErrors AccessLogMode = iota
	// AccessLogAll writes every request at info (5xx at warn; probes and scrapes at debug).
	AccessLogAll
	// AccessLogOff writes no access lines; errors are still logged where they are mapped.
	AccessLogOff
)

func (m AccessLogMode) String() string {
	switch m {
	case AccessLogAll:
		return "all"
	case AccessLogOff:
		return "off"
	}
	return "errors"
}

// DefaultSlowRequest is the AccessLogConfig.Slow used when it is zero.
const DefaultSlowRequest = 500 * time.Millisecond

// ParseAccessLogMode reads the ACCESS_LOG values: errors, all, off.
func ParseAccessLogMode(s string) (AccessLogMode, error) {
	switch s {
	case "errors":
		return AccessLogErrors, nil
	case "all":
		return AccessLogAll, nil
	case "off":
		return AccessLogOff, nil
	}
	return 0, fmt.Errorf("want errors, all or off, not %q", s)
}

// AccessLogConfig chooses the level of each access line. The zero value is AccessLogErrors with
// DefaultSlowRequest.
type AccessLogConfig struct {
	Mode AccessLogMode
	// Slow is the duration from which a request is logged at info in AccessLogErrors mode.
	Slow time.Duration
}

// level is the level of a request's line, and false when it is not logged at all.
func (c AccessLogConfig) level(path string, status int, took time.Duration) (slog.Level, bool) {
	if c.Mode == AccessLogOff {
		return 0, false
	}
	if status >= 500 {
		return slog.LevelWarn, true
	}
	switch path {
	case "/healthz", "/readyz", "/health", "/metrics":
		return slog.LevelDebug, true
	}
	if c.Mode == AccessLogAll {
		return slog.LevelInfo, true
	}
	slow := c.Slow
	if slow <= 0 {
		slow = DefaultSlowRequest
	}
	if status >= 400 || took >= slow {
		return slog.LevelInfo, true
	}
	return slog.LevelDebug, true
}

// AccessLog logs one JSON line per request, at the level cfg gives it.
func AccessLog(log *slog.Logger, cfg AccessLogConfig) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			var line accessLine
			next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), accessLineKey{}, &line)))
			took := time.Since(start)
			level, ok := cfg.level(r.URL.Path, rec.status, took)
			if !ok || line.skip || !log.Enabled(r.Context(), level) {
				return
			}
			log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", routePattern(r)),
				slog.Int("status", rec.status),
				slog.Int("bytes", rec.bytes),
				slog.Duration("duration", took),
				slog.String("remote", r.RemoteAddr),
			)
		})
	}
}

// accessLine is what the handlers below AccessLog may say about their request's line.
type accessLine struct{ skip bool }

type accessLineKey struct{}

// skipAccessLog leaves r out of the access log: for answers that are counted and summarised
// elsewhere because one line each would flood the log (load shedding).
func skipAccessLog(r *http.Request) {
	if l, ok := r.Context().Value(accessLineKey{}).(*accessLine); ok {
		l.skip = true
	}
}

func routePattern(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}
