// Package envcfg owns reading typed settings from environment variables: defaults for unset
// variables, and every bad value collected so that a misconfigured service fails at start with
// one message naming each variable.
package envcfg

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through Get (os.Getenv in production, a map in tests).
type Reader struct {
	Get  func(string) string
	errs []string
}

// New returns a Reader over getenv.
func New(getenv func(string) string) *Reader { return &Reader{Get: getenv} }

// Str returns the trimmed value of key or def.
func (r *Reader) Str(key, def string) string {
	if v := strings.TrimSpace(r.Get(key)); v != "" {
		return v
	}
	return def
}

// Int returns the integer value of key or def.
func (r *Reader) Int(key string, def int) int {
	v := r.Str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Fail(key, "not an integer")
		return def
	}
	return n
}

// Duration returns the positive duration value of key (e.g. 2s) or def.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v := r.Str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.Fail(key, "want a positive duration such as 2s")
		return def
	}
	return d
}

// DurationOrZero is Duration for settings where 0 means off: it accepts 0 too.
func (r *Reader) DurationOrZero(key string, def time.Duration) time.Duration {
	v := r.Str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Fail(key, "want a duration such as 100ms, or 0 for off")
		return def
	}
	return d
}

// List returns the comma-separated, non-empty items of key.
func (r *Reader) List(key string) []string {
	var out []string
	for _, s := range strings.Split(r.Str(key, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Alias returns the value of the first of keys that is set, or def: keys are alternative names
// of one setting, in order of precedence (ours first, then another system's name for it). Two of
// them set to different values is a bad value, naming both: a silent choice could point this
// service at something the operator did not mean.
func (r *Reader) Alias(def string, keys ...string) string {
	val, from := "", ""
	for _, k := range keys {
		v := r.Str(k, "")
		switch {
		case v == "":
		case from == "":
			val, from = v, k
		case v != val:
			r.Fail(k, fmt.Sprintf("%q differs from %s=%q; set one of them", v, from, val))
		}
	}
	if from == "" {
		return def
	}
	return val
}

// Fail records a bad value of key.
func (r *Reader) Fail(key, why string) { r.errs = append(r.errs, key+": "+why) }

// Err returns every recorded problem as one error, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %s", strings.Join(r.errs, "; "))
}
