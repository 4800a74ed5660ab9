package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx"
)

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	return p
}

func TestRequestBodyErrorsBecomeProblems(t *testing.T) {
	eh := httpx.NewErrorHandlers(slog.New(slog.DiscardHandler), func(error) *httpx.Problem { return nil })
	req := httptest.NewRequest("POST", "/orders", nil)

	rec := httptest.NewRecorder()
	eh.Request(rec, req, fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 1 << 20}))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, httpx.CodePayloadTooLarge, problemOf(t, rec)["code"])

	rec = httptest.NewRecorder()
	eh.Request(rec, req, &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[int64](), Field: "productId"})
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	p := problemOf(t, rec)
	assert.Equal(t, httpx.CodeValidationFailed, p["code"])
	assert.Contains(t, fmt.Sprint(p["errors"]), "productId")

	rec = httptest.NewRecorder()
	eh.Request(rec, req, errors.New("unexpected EOF"))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, httpx.CodeBadJSON, problemOf(t, rec)["code"])
}

func TestAProblemIsAnError(t *testing.T) {
	p := httpx.NewProblem(http.StatusConflict, "INSUFFICIENT_STOCK", "Insufficient stock", "Only 2 left.")
	var err error = p
	assert.Equal(t, "INSUFFICIENT_STOCK: Only 2 left.", err.Error())

	// A handler returning a *Problem (wrapped) gets exactly that problem on the wire.
	eh := httpx.NewErrorHandlers(slog.New(slog.DiscardHandler), func(error) *httpx.Problem { return nil })
	rec := httptest.NewRecorder()
	eh.Response(rec, httptest.NewRequest("POST", "/orders", nil), fmt.Errorf("create: %w", p))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "INSUFFICIENT_STOCK", problemOf(t, rec)["code"])
}

func TestLoggerKeepsTheRequestIDInGroups(t *testing.T) {
	var out bytes.Buffer
	log := httpx.NewLogger(&out, slog.LevelInfo, "svc").WithGroup("order")
	log.InfoContext(httpx.WithRequestID(context.Background(), "req-7"), "created", slog.Int64("id", 5))
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line))
	assert.Equal(t, "svc", line["service"])
	assert.Contains(t, out.String(), "req-7")
	assert.Contains(t, out.String(), `"order":{`)
}
