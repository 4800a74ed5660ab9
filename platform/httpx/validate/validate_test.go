package validate_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/validate"
)

// validated is POST /things of ../testdata/things.yaml behind the validator, the way platform/httpx's router
// installs it: on the chi router that routes the handler.
func validated(t *testing.T, maxBodyBytes int64) http.Handler {
	t.Helper()
	spec, err := validate.LoadSpec(readSpec(t))
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Use(validate.Middleware(spec, maxBodyBytes))
	r.Post("/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	return r
}

type problemDoc struct {
	Code, Detail string
	Errors       []problem.FieldError
}

func post(t *testing.T, h http.Handler, body string) (*httptest.ResponseRecorder, problemDoc) {
	t.Helper()
	req := httptest.NewRequest("POST", "/things", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p problemDoc
	if rec.Header().Get("Content-Type") == "application/problem+json" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	}
	return rec, p
}

// TestMoneyHasAtMostTwoDecimalsExactly: multipleOf 0.01 is decided on the number's text. kin-openapi
// alone passes 1.0000000000000001 (the same float as 1); a well-formed number is never "malformed".
func TestMoneyHasAtMostTwoDecimalsExactly(t *testing.T) {
	h := validated(t, 1<<10)
	for _, price := range []string{"1.005", "1.0000000000000001", "0.5700000000000001", "10.0001e1"} {
		rec, p := post(t, h, `{"name":"a","qty":1,"price":`+price+`}`)
		assert.Equal(t, 400, rec.Code, price)
		assert.Equal(t, problem.CodeValidationFailed, p.Code, price)
		assert.Equal(t, []problem.FieldError{{Field: "price", Message: "number must be a multiple of 0.01"}}, p.Errors, price)
	}
	for _, price := range []string{"0.07", "1234567.89", "9999999999.99", "1.10", "5e-2", "0.0000000000000000000000001e25"} {
		rec, _ := post(t, h, `{"name":"a","qty":1,"price":`+price+`}`)
		assert.Equal(t, 201, rec.Code, price)
	}
	// Every failing field at once, the inexact price among them.
	rec, p := post(t, h, `{"name":"","qty":0,"price":1.0000000000000001}`)
	assert.Equal(t, 400, rec.Code)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"name", "price", "qty"}, fields)
}

// TestValidationProblemListsAtMostAHundredFields keeps the answer to a hostile body bounded.
func TestValidationProblemListsAtMostAHundredFields(t *testing.T) {
	h := validated(t, 1<<20)
	var b strings.Builder
	b.WriteString(`{"name":"a","qty":1`)
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, `,"x%d":1`, i)
	}
	b.WriteString("}")
	rec, p := post(t, h, b.String())
	assert.Equal(t, 400, rec.Code)
	assert.Len(t, p.Errors, problem.MaxFieldErrors)
	assert.Equal(t, "The request has 150 invalid fields; the first 100 are listed.", p.Detail)
}

// readSpec is the API platform/httpx's tests use too.
func readSpec(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/things.yaml")
	require.NoError(t, err)
	return b
}
