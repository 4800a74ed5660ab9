package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDebugHandlerServesProfilesOnlyUnderDebugPprof(t *testing.T) {
	srv := httptest.NewServer(debugHandler())
	defer srv.Close()
	for path, want := range map[string]int{
		"/debug/pprof/":                  http.StatusOK,
		"/debug/pprof/heap?debug=1":      http.StatusOK,
		"/debug/pprof/goroutine?debug=1": http.StatusOK,
		"/debug/pprof/cmdline":           http.StatusOK,
		"/debug/pprof/profile?seconds=1": http.StatusOK,
		"/debug/pprof/no-such-profile":   http.StatusNotFound,
		"/products":                      http.StatusNotFound,
		"/debug/pprof/symbol?0x0":        http.StatusOK,
		"/debug/pprof/trace?seconds=0.1": http.StatusOK,
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err, path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "%s: %s", path, body)
	}
}

func TestServeDebug(t *testing.T) {
	ln, err := listenDebug("")
	require.NoError(t, err)
	assert.Nil(t, ln, "no address: profiling off")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, serveDebug(ctx, nil, slog.New(slog.DiscardHandler)), "off: returns when ctx ends")

	ln, err = listenDebug("127.0.0.1:0")
	require.NoError(t, err)
	_, err = listenDebug(ln.Addr().String())
	require.ErrorContains(t, err, "listen for pprof", "a busy port fails the start")

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveDebug(ctx, ln, slog.New(slog.DiscardHandler)) }()
	require.Eventually(t, answersOK("http://"+ln.Addr().String()+"/debug/pprof/"), 5*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	_, err = http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	require.Error(t, err, "closed with the service")

	broken, err := listenDebug("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, broken.Close())
	require.ErrorContains(t, serveDebug(context.Background(), broken, slog.New(slog.DiscardHandler)), "serve pprof")
}

func TestStartDebug(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	stop, err := StartDebug("", log)
	require.NoError(t, err)
	stop() // off: a no-op

	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	stop, err = StartDebug(addr, log)
	require.NoError(t, err)
	_, err = StartDebug(addr, log)
	require.ErrorContains(t, err, "listen for pprof")
	require.Eventually(t, answersOK("http://"+addr+"/debug/pprof/cmdline"), 5*time.Second, 20*time.Millisecond)
	stop()
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	require.Error(t, err, "stopped with the service")
}

// answersOK reports whether a GET of url answers 200, for polling a server that is starting.
func answersOK(url string) func() bool {
	return func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}
