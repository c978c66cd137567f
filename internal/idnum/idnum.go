// Package idnum validates identification numbers that carry check digits
// or a fixed structure: Russian INN, OGRN, OGRNIP and SNILS, Kazakh IIN and
// BIN, Kyrgyz PIN.
//
// Every function takes what a person typed, trims surrounding white space,
// and returns the number in canonical form (digits only) or a
// fault.Invalid error whose key is "idnum.<what>.<problem>" (translated in
// package i18n). Formatting inside the number is refused except where a
// function says otherwise (SNILS). Errors never contain the input: these
// numbers are personal data.
//
// Passing validation means the number is well formed, not that it was
// issued: only the issuing register can say that.
package idnum

import (
	"strings"

	"kabinet/internal/fault"
)

// invalid returns the error for problem with the number kind what.
func invalid(what, problem string) error {
	return fault.New(fault.Invalid, "idnum."+what+"."+problem)
}

// digits trims s and returns it as digit values if it is exactly n ASCII
// digits; otherwise the "empty" or "format" error for what.
func digits(s string, n int, what string) (string, []int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil, invalid(what, "empty")
	}
	if len(s) != n {
		return "", nil, invalid(what, "format")
	}
	d := make([]int, n)
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", nil, invalid(what, "format")
		}
		d[i] = int(s[i] - '0')
	}
	return s, d, nil
}

// weighted returns Σ d[i]·w[i] over len(w) digits.
func weighted(d []int, w []int) int {
	sum := 0
	for i, wi := range w {
		sum += d[i] * wi
	}
	return sum
}

// number returns the first n digits of d as an integer (n ≤ 18).
func number(d []int, n int) int64 {
	var v int64
	for _, x := range d[:n] {
		v = v*10 + int64(x)
	}
	return v
}

func allZero(d []int) bool {
	for _, x := range d {
		if x != 0 {
			return false
		}
	}
	return true
}
