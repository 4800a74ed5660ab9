package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugHandler serves the runtime profiles of net/http/pprof under /debug/pprof/ — on its own
// mux, never on the service's router, so profiles are reachable only on the debug address.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, block, mutex …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// maxProfileTime bounds a CPU profile or trace request; the server's write timeout is above it
// so that pprof accepts ?seconds= up to it.
const maxProfileTime = 2 * time.Minute

// listenDebug opens the debug listener when addr is set (e.g. "127.0.0.1:6060"), so that a busy
// port fails the start rather than a later profile. It returns nil, nil when addr is empty.
func listenDebug(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	return ln, nil
}

// serveDebug serves debugHandler on ln until ctx is done; a nil ln (profiling off) waits for
// ctx and returns nil.
func serveDebug(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	if ln == nil {
		<-ctx.Done()
		return nil
	}
	srv := &http.Server{
		Handler:           debugHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      maxProfileTime + 10*time.Second,
		IdleTimeout:       time.Minute,
	}
	// A profile still running when the service stops is cut after a second.
	if err := Serve(ctx, srv, ln, time.Second, log.With(slog.String("listener", "pprof"))); err != nil {
		_ = srv.Close()
		return fmt.Errorf("serve pprof: %w", err)
	}
	return nil
}

// StartDebug serves the profiles on addr in the background until the returned stop is called
// (stop waits for the server to close). An empty addr turns profiling off: stop is a no-op.
func StartDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := listenDebug(addr)
	if err != nil || ln == nil {
		return func() {}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serveDebug(ctx, ln, log); err != nil {
			log.Warn("pprof server stopped", slog.String("error", err.Error()))
		}
	}()
	return func() { cancel(); <-done }, nil
}
