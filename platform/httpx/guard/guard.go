// Package guard owns the middleware that protects a service and its handlers from what clients
// send: the API key required on writes, the per-client rate limit, load shedding (shed.go), and
// the recovery from a handler's panic. Every refusal is a problem document.
package guard

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/httprate"

	"github.com/shopworks/shop/clients/transport"
	"github.com/shopworks/shop/platform/httpx/problem"
)

// headerAPIKey carries the API key of a client: the header the SDK's transport sets.
const headerAPIKey = transport.HeaderAPIKey

// codeUnauthorized is the problem code of a missing or wrong API key.
const codeUnauthorized = "UNAUTHORIZED"

// APIKeyAuth requires a valid X-API-Key on mutating requests (POST, PUT, PATCH, DELETE) when keys
// is not empty; reads stay open, as in the original system. With no keys configured it does
// nothing, so the services behave exactly like the original. Keys are compared in constant time
// through their hashes and never logged.
func APIKeyAuth(keys []string) func(http.Handler) http.Handler {
	hashes := make([][32]byte, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			hashes = append(hashes, sha256.Sum256([]byte(k)))
		}
	}
	return func(next http.Handler) http.Handler {
		if len(hashes) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			got := sha256.Sum256([]byte(r.Header.Get(headerAPIKey)))
			ok := 0
			for _, h := range hashes {
				ok |= subtle.ConstantTimeCompare(got[:], h[:])
			}
			if ok != 1 {
				w.Header().Set("WWW-Authenticate", `APIKey header="`+headerAPIKey+`"`)
				problem.Write(w, r, problem.New(http.StatusUnauthorized, codeUnauthorized, "Unauthorized",
					"A valid "+headerAPIKey+" header is required for this request."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientIP keys the limit by the TCP peer. It is never taken from a header (X-Forwarded-For is
// spoofable); behind a proxy, put the limit in the proxy instead.
func clientIP(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host), nil
}

// RateLimit allows each client IP at most requests per window and answers 429 problems with
// Retry-After beyond that. requests <= 0 disables it (the default: a load test from one host must
// not be throttled unless the operator asks for it).
func RateLimit(requests int, window time.Duration) func(http.Handler) http.Handler {
	if requests <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	retry := int(window.Seconds())
	if retry < 1 {
		retry = 1
	}
	return httprate.LimitBy(requests, window, clientIP,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			p := problem.New(http.StatusTooManyRequests, problem.CodeRateLimited, "Too many requests",
				"More than "+strconv.Itoa(requests)+" requests in "+window.String()+"; retry later.")
			p.RetryAfter = retry
			problem.Write(w, r, p)
		}),
	)
}

// Except applies guard to every request but those whose path starts with one of prefixes (the
// probes and /metrics, see platform/httpx's NewRouter).
func Except(prefixes []string, guard func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		guarded := guard(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hasAnyPrefix(r.URL.Path, prefixes) {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

func hasAnyPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
