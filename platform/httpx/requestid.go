package httpx

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/shopworks/shop/clients/requestid"
)

// HeaderRequestID is the header that carries the request ID in and out.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDLen bounds a client-sent request ID; longer ones are replaced.
const maxRequestIDLen = 128

// WithRequestID returns ctx carrying id. The key is the SDK's (clients/requestid), so the
// generated clients forward the ID of the request being served without any glue.
func WithRequestID(ctx context.Context, id string) context.Context {
	return requestid.NewContext(ctx, id)
}

// RequestIDFrom returns the request ID in ctx, or "".
func RequestIDFrom(ctx context.Context) string { return requestid.FromContext(ctx) }

// SaneRequestID reports whether a client-sent ID may be kept: 1–128 printable ASCII characters.
func SaneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewRequestID generates a request ID.
func NewRequestID() string { return uuid.NewString() }

// RequestID keeps a sane X-Request-ID or generates one, puts it in the context, echoes it on the
// response and rewrites the request header so that everything downstream sees the same value.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if len(r.Header.Values(HeaderRequestID)) != 1 || !SaneRequestID(id) {
			id = NewRequestID()
		}
		r.Header.Set(HeaderRequestID, id) // canonical key (X-Request-Id): what Header.Get reads downstream
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}
