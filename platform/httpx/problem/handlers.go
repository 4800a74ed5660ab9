package problem

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
)

// ErrorMapper turns a handler's error into the problem a client sees; nil means "unexpected".
// Each service has exactly one, in its httpapi package.
type ErrorMapper func(error) *Problem

// ErrorHandlers are the functions wired into oapi-codegen's error paths so that every one of them
// writes the same problem envelope instead of text/plain.
type ErrorHandlers struct {
	log    *slog.Logger
	mapErr ErrorMapper
}

// NewErrorHandlers builds the error handlers for one service.
func NewErrorHandlers(log *slog.Logger, mapErr ErrorMapper) *ErrorHandlers {
	return &ErrorHandlers{log: log, mapErr: mapErr}
}

// Param handles the chi wrapper's parameter binding errors (ChiServerOptions.ErrorHandlerFunc).
// oapi-codegen generates one error type per service with a ParamName field; it is read by reflection
// so that the platform needs no import of any service's generated package.
func (h *ErrorHandlers) Param(w http.ResponseWriter, r *http.Request, err error) {
	field, msg := "parameter", CleanMessage(err.Error())
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("ParamName"); f.IsValid() && f.Kind() == reflect.String {
			field = f.String()
		}
		if f := v.FieldByName("Err"); f.IsValid() && f.CanInterface() {
			if inner, ok := f.Interface().(error); ok && inner != nil {
				msg = CleanMessage(inner.Error())
			}
		}
	}
	Write(w, r, Validation([]FieldError{{Field: field, Message: msg}}))
}

// Request handles body decoding errors of the strict server (StrictHTTPServerOptions.RequestErrorHandlerFunc).
func (h *ErrorHandlers) Request(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		Write(w, r, New(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "Payload too large", "The body is larger than the limit."))
		return
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		Write(w, r, Validation([]FieldError{{Field: typeErr.Field, Message: "must be a " + typeErr.Type.String()}}))
		return
	}
	p := New(http.StatusBadRequest, CodeBadJSON, "Malformed JSON body", CleanMessage(err.Error()))
	Write(w, r, p)
}

// Response handles errors returned by strict handlers (StrictHTTPServerOptions.ResponseErrorHandlerFunc):
// known errors become their problem, anything else is logged once and answered 500.
func (h *ErrorHandlers) Response(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		Write(w, r, p)
		return
	}
	if h.mapErr != nil {
		if p := h.mapErr(err); p != nil {
			if p.Status >= 500 {
				h.log.WarnContext(r.Context(), "request failed", slog.String("error", err.Error()), slog.Int("status", p.Status))
			}
			Write(w, r, p)
			return
		}
	}
	h.log.ErrorContext(r.Context(), "request failed", slog.String("error", err.Error()))
	Write(w, r, Internal())
}

// NotFound answers an unknown route.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Write(w, r, New(http.StatusNotFound, CodeNotFound, "Not found", "No route matches "+r.Method+" "+r.URL.Path+"."))
}

// CleanMessage drops Go package prefixes that mean nothing to a client from an error message, and
// bounds its length, for the detail or field message of a problem.
func CleanMessage(s string) string {
	s = strings.TrimPrefix(s, "can't decode JSON body: ")
	s = strings.ReplaceAll(s, "json: ", "")
	s = strings.ReplaceAll(s, "money: ", "")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
