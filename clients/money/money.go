// Package money owns the exact money type of the shop's wire contract: an amount in minor units
// (cents) that travels in JSON as a number with at most two decimals. It never goes through float64,
// so 0.1 + 0.2 is 0.3 and a price read from MySQL's DECIMAL comes back byte for byte.
package money

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a sum of money in cents.
type Amount int64

// ErrInvalid is returned for text that is not a non-negative decimal with at most two decimals.
var ErrInvalid = errors.New("money: not a decimal number with at most two decimals")

// maxUnits bounds the whole part so that cents never overflow int64 when multiplied by a quantity.
const maxUnits = 99_999_999_999_999

// FromCents makes an Amount from a count of cents.
func FromCents(c int64) Amount { return Amount(c) }

// Cents is the amount in cents.
func (a Amount) Cents() int64 { return int64(a) }

// Parse reads a decimal such as "1000", "1000.5", "1000.50", "1e3" or "0.5e-1" exactly, whatever
// the notation (trailing zeros and exponents included), and fails when it has more than two
// decimals or more than 14 integer digits. A leading minus is accepted so that validation can
// report it as a range error rather than a syntax error.
func Parse(s string) (Amount, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1_000_000 || e < -1_000_000 {
			return 0, fmt.Errorf("%w: %q", ErrInvalid, orig)
		}
		mant, exp = s[:i], e
	}
	whole, frac, hasDot := strings.Cut(mant, ".")
	if !digits(whole) || (hasDot && !digits(frac)) {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	// The value is D × 10^scale, D the significant digits without leading or trailing zeros.
	d := strings.TrimLeft(whole+frac, "0")
	scale := exp - len(frac)
	for strings.HasSuffix(d, "0") {
		d = d[:len(d)-1]
		scale++
	}
	if d == "" {
		return 0, nil
	}
	if scale < -2 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	if len(d)+scale > len(strconv.Itoa(maxUnits)) {
		return 0, fmt.Errorf("%w: %q is too large", ErrInvalid, orig)
	}
	c, err := strconv.ParseInt(d+strings.Repeat("0", scale+2), 10, 64)
	if err != nil || c > maxUnits*100+99 {
		return 0, fmt.Errorf("%w: %q is too large", ErrInvalid, orig)
	}
	if neg {
		c = -c
	}
	return Amount(c), nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String formats the amount as the shortest exact decimal: 1000, 1000.5, 0.07.
func (a Amount) String() string {
	c := int64(a)
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	whole, frac := c/100, c%100
	switch {
	case frac == 0:
		return fmt.Sprintf("%s%d", sign, whole)
	case frac%10 == 0:
		return fmt.Sprintf("%s%d.%d", sign, whole, frac/10)
	default:
		return fmt.Sprintf("%s%d.%02d", sign, whole, frac)
	}
}

// Decimal formats the amount with exactly two decimals, as MySQL's DECIMAL(…,2) expects.
func (a Amount) Decimal() string {
	c := int64(a)
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// Times multiplies the amount by a quantity, failing instead of overflowing.
func (a Amount) Times(qty int64) (Amount, error) {
	if qty != 0 && (int64(a) > math.MaxInt64/qty || int64(a) < math.MinInt64/qty) {
		return 0, fmt.Errorf("money: %s × %d overflows", a, qty)
	}
	return a * Amount(qty), nil
}

// MarshalJSON writes the amount as a JSON number.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads a JSON number with at most two decimals; strings and other types are errors.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Scan reads a DECIMAL column (driver value []byte or string) into the amount.
func (a *Amount) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		return a.UnmarshalJSON(v)
	case string:
		return a.UnmarshalJSON([]byte(v))
	case int64:
		*a = Amount(v * 100)
		return nil
	case nil:
		return errors.New("money: NULL amount")
	default:
		return fmt.Errorf("money: cannot scan %T", src)
	}
}

// Value stores the amount as an exact DECIMAL string.
func (a Amount) Value() (driver.Value, error) { return a.Decimal(), nil }
