package idnum

import "strings"

// INN validates a Russian taxpayer identification number of either an
// organisation (10 digits, one check digit) or an individual (12 digits,
// two check digits) and returns it. Keys: idnum.inn.empty, .format,
// .checksum. A number of all zeros is refused as .checksum.
func INN(s string) (string, error) {
	switch len(strings.TrimSpace(s)) {
	case 10:
		return innLegal(s, "inn")
	case 12:
		return innPerson(s, "inn")
	}
	if strings.TrimSpace(s) == "" {
		return "", invalid("inn", "empty")
	}
	return "", invalid("inn", "format")
}

// INNLegal validates the 10-digit INN of an organisation. Keys:
// idnum.inn_legal.empty, .format, .checksum.
func INNLegal(s string) (string, error) { return innLegal(s, "inn_legal") }

// INNPerson validates the 12-digit INN of an individual (including a sole
// proprietor). Keys: idnum.inn_person.empty, .format, .checksum.
func INNPerson(s string) (string, error) { return innPerson(s, "inn_person") }

func innLegal(s, what string) (string, error) {
	s, d, err := digits(s, 10, what)
	if err != nil {
		return "", err
	}
	// Check-digit weights as published by the Federal Tax Service.
	w := [...]int{2, 4, 10, 3, 5, 9, 4, 6, 8}
	if allZero(d) || weighted(d, w[:])%11%10 != d[9] {
		return "", invalid(what, "checksum")
	}
	return s, nil
}

func innPerson(s, what string) (string, error) {
	s, d, err := digits(s, 12, what)
	if err != nil {
		return "", err
	}
	w11 := [...]int{7, 2, 4, 10, 3, 5, 9, 4, 6, 8}
	w12 := [...]int{3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8}
	if allZero(d) ||
		weighted(d, w11[:])%11%10 != d[10] ||
		weighted(d, w12[:])%11%10 != d[11] {
		return "", invalid(what, "checksum")
	}
	return s, nil
}

// OGRN validates the 13-digit primary state registration number of a
// Russian legal entity: it starts with 1 or 5 (other first digits are
// numbers of later register entries or of sole proprietors), and the
// first 12 digits as a number, mod 11, then mod 10, equal the last digit.
// Keys: idnum.ogrn.empty, .format, .type, .checksum.
func OGRN(s string) (string, error) {
	s, d, err := digits(s, 13, "ogrn")
	if err != nil {
		return "", err
	}
	if d[0] != 1 && d[0] != 5 {
		return "", invalid("ogrn", "type")
	}
	if int(number(d, 12)%11%10) != d[12] {
		return "", invalid("ogrn", "checksum")
	}
	return s, nil
}

// OGRNIP validates the 15-digit state registration number of a Russian
// sole proprietor: it starts with 3, and the first 14 digits as a number,
// mod 13, then mod 10, equal the last digit. Keys: idnum.ogrnip.empty,
// .format, .type, .checksum.
func OGRNIP(s string) (string, error) {
	s, d, err := digits(s, 15, "ogrnip")
	if err != nil {
		return "", err
	}
	if d[0] != 3 {
		return "", invalid("ogrnip", "type")
	}
	if int(number(d, 14)%13%10) != d[14] {
		return "", invalid("ogrnip", "checksum")
	}
	return s, nil
}

// snilsUnchecked is the highest SNILS (001-001-998) issued before check
// digits were introduced; numbers up to it carry no checksum.
const snilsUnchecked = 1001998

// SNILS validates the 11-digit Russian individual insurance account number
// and returns its 11 digits. Besides plain digits it accepts the printed
// form "112-233-445 95": a single '-', space or no-break space may follow
// the 3rd, 6th and 9th digit, nowhere else. The check number (last two
// digits) is Σ digit·(9…1) over the first nine digits: below 100 as is,
// 100 and 101 give 00, above 101 the sum mod 101 (with 100 giving 00).
// Numbers up to 001-001-998 predate the rule and are not checked; all
// zeros is refused. Keys: idnum.snils.empty, .format, .checksum.
func SNILS(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", invalid("snils", "empty")
	}
	n, ok := NormalizeSNILS(s)
	if !ok {
		return "", invalid("snils", "format")
	}
	d := make([]int, 11)
	for i := range d {
		d[i] = int(n[i] - '0')
	}
	if allZero(d[:9]) || number(d, 9) > snilsUnchecked && snilsCheck(d) != d[9]*10+d[10] {
		return "", invalid("snils", "checksum")
	}
	return n, nil
}

func snilsCheck(d []int) int {
	sum := 0
	for i := range 9 {
		sum += d[i] * (9 - i)
	}
	switch {
	case sum < 100:
		return sum
	case sum <= 101:
		return 0
	}
	if c := sum % 101; c != 100 {
		return c
	}
	return 0
}

// NormalizeSNILS strips the formatting SNILS accepts and returns the 11
// digits, without checking the check number; it reports false when s is
// not 11 digits in an accepted layout.
func NormalizeSNILS(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var b [11]byte
	n := 0
	prevSep := true // no separator before the first digit
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == len(b) {
				return "", false
			}
			b[n] = byte(r)
			n++
			prevSep = false
		case r == '-' || r == ' ' || r == '\u00a0':
			if prevSep || (n != 3 && n != 6 && n != 9) {
				return "", false
			}
			prevSep = true
		default:
			return "", false
		}
	}
	if n != len(b) {
		return "", false
	}
	return string(b[:]), true
}

// FormatSNILS returns 11 SNILS digits in the printed form "123-456-789 01";
// any other input is returned unchanged.
func FormatSNILS(digits string) string {
	if len(digits) != 11 {
		return digits
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return digits
		}
	}
	return digits[:3] + "-" + digits[3:6] + "-" + digits[6:9] + " " + digits[9:]
}
