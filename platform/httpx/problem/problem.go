// Package problem owns the one answer every error of an HTTP request gets: the RFC 9457 problem
// document (its type, codes, field errors and writer), and the handlers that route the errors of
// the generated servers (bad parameters, undecodable bodies, handler errors) and unknown routes to
// it. It has no domain code: services map their domain errors to *Problem in exactly one place
// (their httpapi package, through an ErrorMapper).
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/shopworks/shop/clients/requestid"
)

// Stable machine words for the problem's code field that the platform itself produces.
const (
	CodeValidationFailed     = "VALIDATION_FAILED"
	CodeBadJSON              = "BAD_JSON"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeRateLimited          = "RATE_LIMITED"
	CodeServiceUnavailable   = "SERVICE_UNAVAILABLE"
	CodeInternal             = "INTERNAL"
)

// typeBase prefixes every problem type URI; the suffix is the code in kebab case.
const typeBase = "https://shop.example/problems/"

// FieldError names one failing field and why it failed.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document. It is also an error, so that handlers can return it.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"requestId"`
	Errors    []FieldError `json:"errors,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
	// Allow, when set, is sent as the Allow header of a 405.
	Allow string `json:"-"`
}

// New builds a problem with the type URI derived from code.
func New(status int, code, title, detail string) *Problem {
	return &Problem{
		Type:   typeBase + strings.ReplaceAll(strings.ToLower(code), "_", "-"),
		Title:  title,
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// MaxFieldErrors bounds the errors of a validation problem (the spec's Problem.errors maxItems):
// a body with a hundred thousand unknown fields must not get an answer a hundred thousand lines long.
const MaxFieldErrors = 100

// Validation reports every failing field of a request at once (the first MaxFieldErrors; the
// detail gives the full count).
func Validation(fields []FieldError) *Problem {
	detail := "The request has " + strconv.Itoa(len(fields)) + " invalid field"
	if len(fields) != 1 {
		detail += "s"
	}
	if len(fields) > MaxFieldErrors {
		fields = fields[:MaxFieldErrors]
		detail += "; the first " + strconv.Itoa(MaxFieldErrors) + " are listed"
	}
	p := New(http.StatusBadRequest, CodeValidationFailed, "Validation failed", detail+".")
	p.Errors = fields
	return p
}

// Internal is what a client sees of an unexpected error: nothing internal.
func Internal() *Problem {
	return New(http.StatusInternalServerError, CodeInternal, "Internal error",
		"An unexpected error occurred; the service log has the details under this request ID.")
}

// Write writes p as application/problem+json, filling instance and requestId from r.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	out := *p
	if out.Instance == "" {
		out.Instance = r.URL.Path
	}
	if out.RequestID == "" {
		out.RequestID = requestid.FromContext(r.Context())
	}
	if out.Type == "" {
		out.Type = typeBase + strings.ReplaceAll(strings.ToLower(out.Code), "_", "-")
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if out.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(out.RetryAfter))
	}
	if out.Allow != "" {
		h.Set("Allow", out.Allow)
	}
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(&out)
}
