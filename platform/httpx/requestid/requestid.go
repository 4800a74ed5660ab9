// Package requestid owns the X-Request-ID of an incoming request: it keeps a sane one sent by the
// client or generates one, and puts it in the request's context, on the response and on the
// request header. Where the ID sits in a context is clients/requestid's, shared with the generated
// clients, which therefore forward the ID of the request being served without any glue.
package requestid

import (
	"net/http"

	"github.com/google/uuid"

	sdk "github.com/shopworks/shop/clients/requestid"
)

// maxLen bounds a client-sent request ID; longer ones are replaced.
const maxLen = 128

// Sane reports whether a client-sent ID may be kept: 1–128 printable ASCII characters.
func Sane(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// New generates a request ID.
func New() string { return uuid.NewString() }

// Middleware keeps a sane X-Request-ID or generates one, puts it in the context, echoes it on the
// response and rewrites the request header so that everything downstream sees the same value.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(sdk.Header)
		if len(r.Header.Values(sdk.Header)) != 1 || !Sane(id) {
			id = New()
		}
		r.Header.Set(sdk.Header, id) // canonical key (X-Request-Id): what Header.Get reads downstream
		w.Header().Set(sdk.Header, id)
		next.ServeHTTP(w, r.WithContext(sdk.NewContext(r.Context(), id)))
	})
}
