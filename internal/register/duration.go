package register

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a legal term in calendar units: days, months or years, as
// laws and consents state them ("3y", "6m", "30d"). Months and years are
// added on the calendar, not as fixed hours.
type Duration struct {
	N    int
	Unit byte // 'd', 'm' or 'y'; 0 for none
}

// ParseDuration parses "30d", "6m", "3y"; "" is the zero Duration.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Duration{}, nil
	}
	unit := s[len(s)-1]
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || (unit != 'd' && unit != 'm' && unit != 'y') {
		return Duration{}, fmt.Errorf("%q: want a positive number of days, months or years, like 30d, 6m, 3y", s)
	}
	return Duration{N: n, Unit: unit}, nil
}

// IsZero reports whether no term is set.
func (d Duration) IsZero() bool { return d.N == 0 }

// AddTo returns t plus the duration on the calendar. A term in months or
// years ends on the same day of the month; when that month has no such
// day, on its last day (Civil Code of the RF art. 192 p.3): 31 January
// plus 1m is 28 or 29 February, not 2 or 3 March as time.AddDate gives.
func (d Duration) AddTo(t time.Time) time.Time {
	var months int
	switch d.Unit {
	case 'd':
		return t.AddDate(0, 0, d.N)
	case 'm':
		months = d.N
	case 'y':
		months = 12 * d.N
	default:
		return t
	}
	y, m, day := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	if last := first.AddDate(0, 1, -1).Day(); day > last {
		day = last
	}
	return first.AddDate(0, 0, day-1)
}

func (d Duration) String() string {
	if d.IsZero() {
		return ""
	}
	return strconv.Itoa(d.N) + string(d.Unit)
}

// UnmarshalYAML reads "3y" and the like.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the short form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Text renders the term in Russian or English words with plural forms:
// "3 года", "30 дней", "6 months".
func (d Duration) Text(lang string) string {
	if d.IsZero() {
		return ""
	}
	forms := map[string]map[byte][3]string{
		"ru": {'d': {"день", "дня", "дней"}, 'm': {"месяц", "месяца", "месяцев"}, 'y': {"год", "года", "лет"}},
		"en": {'d': {"day", "days", "days"}, 'm': {"month", "months", "months"}, 'y': {"year", "years", "years"}},
	}
	f, ok := forms[lang]
	if !ok {
		f = forms["ru"]
	}
	w := f[d.Unit]
	var word string
	if lang == "en" {
		word = w[1]
		if d.N == 1 {
			word = w[0]
		}
	} else {
		switch n10, n100 := d.N%10, d.N%100; {
		case n10 == 1 && n100 != 11:
			word = w[0]
		case n10 >= 2 && n10 <= 4 && (n100 < 12 || n100 > 14):
			word = w[1]
		default:
			word = w[2]
		}
	}
	return strconv.Itoa(d.N) + " " + word
}
