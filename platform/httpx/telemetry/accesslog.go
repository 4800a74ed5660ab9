package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

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
	// accessLogErrors (the default) keeps the log useful at a thousand requests a second: 5xx at
	// warn, 4xx and slow requests at info, every other request at debug (LOG_LEVEL=debug shows it).
	accessLogErrors AccessLogMode = iota
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
		return accessLogErrors, nil
	case "all":
		return AccessLogAll, nil
	case "off":
		return AccessLogOff, nil
	}
	return 0, fmt.Errorf("want errors, all or off, not %q", s)
}

// AccessLogConfig chooses the level of each access line. The zero value is the errors mode with
// DefaultSlowRequest.
type AccessLogConfig struct {
	Mode AccessLogMode
	// Slow is the duration from which a request is logged at info in the errors mode.
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

// SkipAccessLog leaves r out of the access log: for answers that are counted and summarised
// elsewhere because one line each would flood the log (load shedding).
func SkipAccessLog(r *http.Request) {
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
