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

// Parse reads a decimal such as "1000", "1000.5", "1000.50" or "1e3". A leading minus is accepted
// so that validation can report it as a range error rather than a syntax error.
func Parse(s string) (Amount, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if strings.ContainsAny(s, "eE") {
		return parseExponent(orig)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !digits(whole) || (hasDot && (frac == "" || !digits(frac))) {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > maxUnits {
		return 0, fmt.Errorf("%w: %q is too large", ErrInvalid, orig)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	c := w*100 + f
	if neg {
		c = -c
	}
	return Amount(c), nil
}

// parseExponent handles JSON's exponent form (1e3, 1.5E+2) exactly via strconv's decimal parsing of
// the mantissa, accepting only results that are whole cents.
func parseExponent(s string) (Amount, error) {
	mant, expText, _ := strings.Cut(strings.ToLower(s), "e")
	exp, err := strconv.Atoi(expText)
	if err != nil || exp > 20 || exp < -20 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	whole, frac, _ := strings.Cut(mant, ".")
	digitsAll := whole + frac
	point := len(whole) + exp // position of the decimal point within digitsAll
	if !digits(digitsAll) {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	for point > len(digitsAll) {
		digitsAll += "0"
	}
	for point < 0 {
		digitsAll = "0" + digitsAll
		point++
	}
	text := digitsAll[:point] + "." + digitsAll[point:]
	if point == 0 {
		text = "0" + text
	}
	if neg {
		text = "-" + text
	}
	return Parse(strings.TrimSuffix(text, "."))
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
