package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx/problem"
)

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	return p
}

func TestRequestBodyErrorsBecomeProblems(t *testing.T) {
	eh := problem.NewErrorHandlers(slog.New(slog.DiscardHandler), func(error) *problem.Problem { return nil })
	req := httptest.NewRequest("POST", "/orders", nil)

	rec := httptest.NewRecorder()
	eh.Request(rec, req, fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 1 << 20}))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, problem.CodePayloadTooLarge, problemOf(t, rec)["code"])

	rec = httptest.NewRecorder()
	eh.Request(rec, req, &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[int64](), Field: "productId"})
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	p := problemOf(t, rec)
	assert.Equal(t, problem.CodeValidationFailed, p["code"])
	assert.Contains(t, fmt.Sprint(p["errors"]), "productId")

	rec = httptest.NewRecorder()
	eh.Request(rec, req, errors.New("unexpected EOF"))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, problem.CodeBadJSON, problemOf(t, rec)["code"])
}

func TestAProblemIsAnError(t *testing.T) {
	p := problem.New(http.StatusConflict, "INSUFFICIENT_STOCK", "Insufficient stock", "Only 2 left.")
	var err error = p
	assert.Equal(t, "INSUFFICIENT_STOCK: Only 2 left.", err.Error())

	// A handler returning a *Problem (wrapped) gets exactly that problem on the wire.
	eh := problem.NewErrorHandlers(slog.New(slog.DiscardHandler), func(error) *problem.Problem { return nil })
	rec := httptest.NewRecorder()
	eh.Response(rec, httptest.NewRequest("POST", "/orders", nil), fmt.Errorf("create: %w", p))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "INSUFFICIENT_STOCK", problemOf(t, rec)["code"])
}

func TestErrorHandlersMapHandlerErrorsOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	errGone := errors.New("gone")
	eh := problem.NewErrorHandlers(log, func(err error) *problem.Problem {
		if errors.Is(err, errGone) {
			return problem.New(404, "THING_NOT_FOUND", "Thing not found", "no such thing")
		}
		return nil
	})
	req := httptest.NewRequest("GET", "/things/1", nil)
	rec := httptest.NewRecorder()
	eh.Response(rec, req, errors.Join(errGone))
	assert.Equal(t, 404, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"THING_NOT_FOUND"`)

	rec = httptest.NewRecorder()
	eh.Response(rec, req, errors.New("dial tcp 10.0.0.1:3306: secret"))
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.Equal(t, 1, strings.Count(logs.String(), "secret"), "logged exactly once")

	rec = httptest.NewRecorder()
	eh.Request(rec, req, errors.New("can't decode JSON body: unexpected EOF"))
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"BAD_JSON"`)

	rec = httptest.NewRecorder()
	eh.Param(rec, req, &invalidParamFormatError{ParamName: "id", Err: errors.New("not an int")})
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), `"field":"id"`)
}

// invalidParamFormatError has the shape of the error type oapi-codegen generates per service.
type invalidParamFormatError struct {
	ParamName string
	Err       error
}

func (e *invalidParamFormatError) Error() string {
	return "Invalid format for parameter " + e.ParamName + ": " + e.Err.Error()
}
