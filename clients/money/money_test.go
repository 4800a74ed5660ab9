package money_test

import (
	"encoding/json"
	"math"
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
	}
	for _, tc := range tests {
		got, err := money.Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.cents, got.Cents(), tc.in)
	}
}

func TestParseRejectsWhatIsNotMoney(t *testing.T) {
	for _, in := range []string{"", "abc", "1.234", "0.001", `"12"`, "1.", ".5", "1e-3", "1e99", "--1", "1,5", "100000000000000", "true"} {
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
