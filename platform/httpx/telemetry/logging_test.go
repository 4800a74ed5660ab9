package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

func TestLoggerWritesDurationsInHumanUnits(t *testing.T) {
	var out bytes.Buffer
	log := telemetry.NewLogger(&out, slog.LevelInfo, "svc")
	log.Info("starting", slog.Group("config",
		slog.Duration("priceFresh", 30*time.Second), slog.Duration("outboxLinger", 25*time.Millisecond)))
	assert.Contains(t, out.String(), `"priceFresh":"30s"`)
	assert.Contains(t, out.String(), `"outboxLinger":"25ms"`)
	assert.NotContains(t, out.String(), "30000000000")

	for d, want := range map[time.Duration]string{
		time.Minute: "1m", 24 * time.Hour: "24h", 90 * time.Second: "1m30s", 2500 * time.Millisecond: "2.5s",
		time.Hour + 30*time.Second: "1h0m30s", 0: "0s",
	} {
		out.Reset()
		log.Info("d", slog.Duration("d", d))
		var line struct{ D string }
		require.NoError(t, json.Unmarshal(out.Bytes(), &line))
		assert.Equal(t, want, line.D)
		back, err := time.ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back, "%s reads back as the same duration", want)
	}
}

// accessLines serves one request per path through AccessLog and returns the level of each line
// written, keyed by path ("" when the request wrote none).
func accessLines(t *testing.T, logLevel slog.Level, cfg telemetry.AccessLogConfig) map[string]string {
	t.Helper()
	var out bytes.Buffer
	h := telemetry.AccessLog(telemetry.NewLogger(&out, logLevel, "svc"), cfg)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/missing":
				w.WriteHeader(http.StatusNotFound)
			case "/broken":
				w.WriteHeader(http.StatusServiceUnavailable)
			case "/slow":
				time.Sleep(20 * time.Millisecond)
			}
			_, _ = w.Write([]byte("body"))
		}))
	paths := []string{"/ok", "/missing", "/broken", "/slow", "/healthz"}
	for _, p := range paths {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	got := map[string]string{}
	for _, p := range paths {
		got[p] = ""
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var rec struct{ Level, Path, Duration string }
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		got[rec.Path] = rec.Level
		_, err := time.ParseDuration(rec.Duration)
		assert.NoError(t, err, "duration is written in human units: %s", line)
	}
	return got
}

func TestAccessLogKeepsInfoForErrorsAndSlowRequests(t *testing.T) {
	slow := telemetry.AccessLogConfig{Slow: 10 * time.Millisecond} // the default mode: errors
	assert.Equal(t, map[string]string{
		"/ok": "", "/missing": "INFO", "/broken": "WARN", "/slow": "INFO", "/healthz": "",
	}, accessLines(t, slog.LevelInfo, slow), "at LOG_LEVEL=info only what needs a look is written")
	assert.Equal(t, map[string]string{
		"/ok": "DEBUG", "/missing": "INFO", "/broken": "WARN", "/slow": "INFO", "/healthz": "DEBUG",
	}, accessLines(t, slog.LevelDebug, slow), "LOG_LEVEL=debug shows every request")
	assert.Equal(t, "", accessLines(t, slog.LevelInfo, telemetry.AccessLogConfig{})["/slow"],
		"20 ms is not slow for the default threshold of %s", telemetry.DefaultSlowRequest)
}

func TestAccessLogAllAndOff(t *testing.T) {
	assert.Equal(t, map[string]string{
		"/ok": "INFO", "/missing": "INFO", "/broken": "WARN", "/slow": "INFO", "/healthz": "",
	}, accessLines(t, slog.LevelInfo, telemetry.AccessLogConfig{Mode: telemetry.AccessLogAll}))
	assert.Equal(t, map[string]string{
		"/ok": "", "/missing": "", "/broken": "", "/slow": "", "/healthz": "",
	}, accessLines(t, slog.LevelDebug, telemetry.AccessLogConfig{Mode: telemetry.AccessLogOff}))
}

func TestParseAccessLogMode(t *testing.T) {
	for s, want := range map[string]telemetry.AccessLogMode{
		"errors": telemetry.AccessLogConfig{}.Mode, "all": telemetry.AccessLogAll, "off": telemetry.AccessLogOff,
	} {
		got, err := telemetry.ParseAccessLogMode(s)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, s, got.String())
	}
	_, err := telemetry.ParseAccessLogMode("verbose")
	require.ErrorContains(t, err, "want errors, all or off")
}

func TestLoggerKeepsTheRequestIDInGroups(t *testing.T) {
	var out bytes.Buffer
	log := telemetry.NewLogger(&out, slog.LevelInfo, "svc").WithGroup("order")
	log.InfoContext(requestid.NewContext(context.Background(), "req-7"), "created", slog.Int64("id", 5))
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line))
	assert.Equal(t, "svc", line["service"])
	assert.Contains(t, out.String(), "req-7")
	assert.Contains(t, out.String(), `"order":{`)
}
