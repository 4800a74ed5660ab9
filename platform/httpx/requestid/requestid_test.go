package requestid_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/httpx/requestid"
)

func FuzzRequestIDHeader(f *testing.F) {
	for _, s := range []string{"demo-123", "", strings.Repeat("x", 129), "a b", "\x7f", "ü"} {
		f.Add(s)
	}
	h := requestid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := sdk.FromContext(r.Context()); got != w.Header().Get(sdk.Header) {
			panic("context and response disagree")
		}
	}))
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(sdk.Header, id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(sdk.Header)
		if !requestid.Sane(got) {
			t.Fatalf("%q became %q", id, got)
		}
		if requestid.Sane(id) && got != id {
			t.Fatalf("sane %q was replaced by %q", id, got)
		}
	})
}
