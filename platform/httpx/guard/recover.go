package guard

import (
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/shopworks/shop/platform/httpx/problem"
)

// Recover turns a panic in a handler into a 500 problem and one error log line with the stack;
// the client sees nothing internal. http.ErrAbortHandler is re-raised as net/http expects.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request",
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				problem.Write(w, r, problem.Internal())
			}()
			next.ServeHTTP(w, r)
		})
	}
}
