package money_test

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
)

func TestParseIsExact(t *testing.T) {
	tests := []struct {
		in    string
		cents int64
	}{
		{"0", 0}, {"1000", 100000}, {"1000.5", 100050}, {"1000.50", 100050}, {"0.07", 7},
		{"0.29", 29}, {"1e3", 100000}, {"1.5E+2", 15000}, {"12.3e-1", 123}, {"-1", -100},
		{"1234567.89", 123456789}, {"99999999999999.99", 9999999999999999}, {"2.500", 250},
		// Any notation of an amount with at most two decimals, however long: what the request
		// validator accepts (it checks multipleOf 0.01 on the same text) must parse.
		{"0.0000000000000000000000001e25", 100}, {"100e-2", 100}, {"0e999999", 0}, {"1235e-2", 1235},
	}
	for _, tc := range tests {
		got, err := money.Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.cents, got.Cents(), tc.in)
	}
}

func TestParseRejectsWhatIsNotMoney(t *testing.T) {
	for _, in := range []string{"", "abc", "1.234", "0.001", `"12"`, "1.", ".5", "1e-3", "1e99", "--1", "1,5", "100000000000000", "true",
		"1.0000000000000001", "0.5700000000000001", "1e", "1e+", "1e99999999999"} {
		_, err := money.Parse(in)
		assert.ErrorIs(t, err, money.ErrInvalid, in)
	}
}

func TestJSONRoundTripNeverUsesFloat(t *testing.T) {
	var v struct {
		Price money.Amount `json:"price"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"price":0.1}`), &v))
	a := v.Price
	require.NoError(t, json.Unmarshal([]byte(`{"price":0.2}`), &v))
	sum := a + v.Price
	b, err := json.Marshal(struct {
		Price money.Amount `json:"price"`
	}{sum})
	require.NoError(t, err)
	assert.JSONEq(t, `{"price":0.3}`, string(b))
	assert.Error(t, json.Unmarshal([]byte(`{"price":"12"}`), &v), "strings are not numbers")
	assert.Error(t, json.Unmarshal([]byte(`{"price":12.345}`), &v))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "1000", money.FromCents(100000).String())
	assert.Equal(t, "1000.5", money.FromCents(100050).String())
	assert.Equal(t, "0.07", money.FromCents(7).String())
	assert.Equal(t, "-0.07", money.FromCents(-7).String())
	assert.Equal(t, "1000.50", money.FromCents(100050).Decimal())
	v, err := money.FromCents(100050).Value()
	require.NoError(t, err)
	assert.Equal(t, "1000.50", v)
}

func TestScanReadsDecimalColumns(t *testing.T) {
	var a money.Amount
	require.NoError(t, a.Scan([]byte("1234.50")))
	assert.Equal(t, int64(123450), a.Cents())
	require.NoError(t, a.Scan("0.07"))
	assert.Equal(t, int64(7), a.Cents())
	require.NoError(t, a.Scan(int64(3)))
	assert.Equal(t, int64(300), a.Cents())
	assert.Error(t, a.Scan(nil))
	assert.Error(t, a.Scan(1.5))
}

func TestTimesIsExactAndRefusesOverflow(t *testing.T) {
	got, err := money.FromCents(100050).Times(3)
	require.NoError(t, err)
	assert.Equal(t, "3001.5", got.String())
	_, err = money.FromCents(math.MaxInt64 / 2).Times(3)
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1000.5", "1e3", "-0.07", "12.345", "9999999999999999999", "1e-2", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := money.Parse(s)
		if err != nil {
			return
		}
		back, err := money.Parse(a.String())
		if err != nil || back != a {
			t.Fatalf("%q → %v → %q → %v, %v", s, a.Cents(), a.String(), back.Cents(), err)
		}
		if d, err := money.Parse(a.Decimal()); err != nil || d != a {
			t.Fatalf("Decimal of %q does not round-trip: %v", s, err)
		}
	})
}

// FuzzParseAgreesWithExactArithmetic: Parse accepts exactly the JSON numbers that are whole cents
// within range, whatever the notation, and reads them exactly (big.Rat is the referee).
func FuzzParseAgreesWithExactArithmetic(f *testing.F) {
	for _, s := range []string{"0", "1000.5", "1e3", "0.0000000000000000000000001e25", "1.0000000000000001", "99999999999999.99", "100000000000000", "5E-1", "-0.01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !jsonNumber.MatchString(s) || len(s) > 64 {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return
		}
		cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
		limit := new(big.Rat).SetInt64(99_999_999_999_999_99)
		want := cents.IsInt() && new(big.Rat).Abs(cents).Cmp(limit) <= 0
		got, err := money.Parse(s)
		if want != (err == nil) {
			t.Fatalf("Parse(%q): err %v, want ok=%v", s, err, want)
		}
		if want && got.Cents() != cents.Num().Int64() {
			t.Fatalf("Parse(%q) = %d cents, want %s", s, got.Cents(), cents.Num())
		}
	})
}

// jsonNumber is RFC 8259's number grammar, with a bounded exponent so that big.Rat stays cheap.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)
