package config

import (
	"strings"

	"kabinet/internal/fault"
	"kabinet/internal/idnum"
)

// validateRegistration checks that the numbers a jurisdiction requires are
// present and carry valid check digits.
func validateRegistration(jur string, r Registration) Problems {
	var ps Problems
	check := func(path, value string, fn func(string) (string, error)) {
		if value == "" {
			return
		}
		if _, err := fn(value); err != nil {
			key, args := fault.Message(err)
			ps = append(ps, Problem{Path: path, Key: key, Args: args})
		}
	}
	require := func(path string, values ...string) {
		for _, v := range values {
			if v != "" {
				return
			}
		}
		ps = append(ps, Problem{Path: path, Key: "config.required"})
	}
	base := "operator.registration."
	switch jur {
	case "ru":
		require(base+"inn", r.INN)
		require(base+"ogrn", r.OGRN, r.OGRNIP)
		check(base+"inn", r.INN, idnum.INN)
		check(base+"ogrn", r.OGRN, idnum.OGRN)
		check(base+"ogrnip", r.OGRNIP, idnum.OGRNIP)
		if r.KPP != "" && !kppPattern(r.KPP) {
			ps = append(ps, Problem{Path: base + "kpp", Key: "config.kpp_invalid"})
		}
	case "kz":
		require(base+"bin", r.BIN, r.IIN)
		check(base+"bin", r.BIN, idnum.KZBIN)
		check(base+"iin", r.IIN, idnum.KZIIN)
	case "kg":
		require(base+"inn", r.INN)
		if r.INN != "" && (len(r.INN) != 14 || strings.Trim(r.INN, "0123456789") != "") {
			ps = append(ps, Problem{Path: base + "inn", Key: "config.kg_inn_invalid"})
		}
	}
	return ps
}

// kppPattern: 4 digits (tax office), 2 digits or capital Latin letters
// (reason), 3 digits.
func kppPattern(s string) bool {
	if len(s) != 9 {
		return false
	}
	for i, c := range s {
		digit := c >= '0' && c <= '9'
		if (i == 4 || i == 5) && (digit || (c >= 'A' && c <= 'Z')) {
			continue
		}
		if !digit {
			return false
		}
	}
	return true
}
