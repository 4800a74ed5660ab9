// Package httpserver owns how a service's HTTP server runs: its timeouts and limits, serving until
// the context ends and then draining, the problem documents that replace net/http's own plain-text
// refusals of requests it cannot parse (connerrors.go), and the pprof listener on its own address
// (debug.go).
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// New returns an http.Server with timeouts that keep slow or idle clients (slowloris) from
// holding connections, and bounded header size.
func New(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve runs srv on ln until ctx is done, then stops accepting, drains in-flight requests for up
// to drain, and returns. A listener error other than a clean close is returned. The answers
// net/http gives by itself to requests it cannot parse become problem documents too (see
// connerrors.go).
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(problemListener{Listener: ln, log: log}) }()
	log.InfoContext(ctx, "http listening", slog.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
