package idnum

import "time"

// KZIIN validates a Kazakh individual identification number (12 digits)
// and returns it. Digits 1–6 are the date of birth YYMMDD; digit 7 gives
// the century and sex (1–2: 1800s, 3–4: 1900s, 5–6: 2000s), and the date
// must exist in that century; digit 12 is the check digit (see kzCheck).
// The date is not compared with today: the check digit already catches
// typing errors, and no clock is needed. Keys: idnum.kz_iin.empty,
// .format, .century, .date, .checksum.
func KZIIN(s string) (string, error) {
	s, d, err := digits(s, 12, "kz_iin")
	if err != nil {
		return "", err
	}
	var century int
	switch d[6] {
	case 1, 2:
		century = 1800
	case 3, 4:
		century = 1900
	case 5, 6:
		century = 2000
	default:
		return "", invalid("kz_iin", "century")
	}
	year := century + d[0]*10 + d[1]
	if !validDate(year, d[2]*10+d[3], d[4]*10+d[5]) {
		return "", invalid("kz_iin", "date")
	}
	if !kzCheck(d) {
		return "", invalid("kz_iin", "checksum")
	}
	return s, nil
}

// KZBIN validates a Kazakh business identification number (12 digits) and
// returns it. Digits 3–4 are the month of registration (01–12); digit 5 is
// the type (4 resident legal entity, 5 non-resident, 6 joint individual
// entrepreneurship), digit 6 the division (0 head office, 1 branch,
// 2 representative office, 3 peasant farm); digit 12 is the check digit,
// computed as for the IIN. Keys: idnum.kz_bin.empty, .format, .date,
// .type, .checksum.
func KZBIN(s string) (string, error) {
	s, d, err := digits(s, 12, "kz_bin")
	if err != nil {
		return "", err
	}
	if month := d[2]*10 + d[3]; month < 1 || month > 12 {
		return "", invalid("kz_bin", "date")
	}
	if d[4] < 4 || d[4] > 6 || d[5] > 3 {
		return "", invalid("kz_bin", "type")
	}
	if !kzCheck(d) {
		return "", invalid("kz_bin", "checksum")
	}
	return s, nil
}

// kzCheck verifies the check digit shared by IIN and BIN (Rules approved
// by Government Decree No. 406 of 22.05.2007): Σ digit·(1…11) mod 11; if
// that is 10, Σ digit·(3…11, 1, 2) mod 11; if that is 10 too, no number
// is issued with these first eleven digits.
func kzCheck(d []int) bool {
	c := weighted(d, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) % 11
	if c == 10 {
		c = weighted(d, []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2}) % 11
		if c == 10 {
			return false
		}
	}
	return c == d[11]
}

// kgMinYear bounds the birth year of a Kyrgyz PIN from below: the
// register holds living people, so an earlier year is a typing error.
const kgMinYear = 1900

// KGPIN validates a Kyrgyz personal identification number (14 digits) and
// returns it. Digit 1 is the sex (1 or 2), digits 2–9 the date of birth
// DDMMYYYY, which must exist, lie in 1900 or later and not after today's
// date (taken from today in the caller's time zone, normally the
// operator's); digits 10–14 are a serial number. The PIN has no check
// digit, so this structure is all that can be verified. Keys:
// idnum.kg_pin.empty, .format, .first_digit, .date.
func KGPIN(s string, today time.Time) (string, error) {
	s, d, err := digits(s, 14, "kg_pin")
	if err != nil {
		return "", err
	}
	if d[0] != 1 && d[0] != 2 {
		return "", invalid("kg_pin", "first_digit")
	}
	day, month := d[1]*10+d[2], d[3]*10+d[4]
	year := d[5]*1000 + d[6]*100 + d[7]*10 + d[8]
	if year < kgMinYear || !validDate(year, month, day) {
		return "", invalid("kg_pin", "date")
	}
	ty, tm, td := today.Date()
	if year*10000+month*100+day > ty*10000+int(tm)*100+td {
		return "", invalid("kg_pin", "date")
	}
	return s, nil
}

// validDate reports whether year-month-day exists in the Gregorian calendar.
func validDate(year, month, day int) bool {
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	return t.Day() == day && int(t.Month()) == month
}
