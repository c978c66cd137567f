package register_test

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"kabinet/internal/register"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]register.Duration{
		"":      {},
		"30d":   {N: 30, Unit: 'd'},
		" 6m ":  {N: 6, Unit: 'm'},
		"3y":    {N: 3, Unit: 'y'},
		"100y":  {N: 100, Unit: 'y'},
		"1d":    {N: 1, Unit: 'd'},
		"   ":   {},
		"12m":   {N: 12, Unit: 'm'},
		"0050d": {N: 50, Unit: 'd'},
	} {
		got, err := register.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"3", "y", "0y", "-1m", "3w", "3Y", "1.5y", "3 y", "y3", "3yy", "30 days"} {
		if d, err := register.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestDurationYAMLRoundTrip(t *testing.T) {
	var v struct {
		Term register.Duration `yaml:"term"`
	}
	if err := yaml.Unmarshal([]byte("term: 3y\n"), &v); err != nil || v.Term != (register.Duration{N: 3, Unit: 'y'}) {
		t.Fatalf("unmarshal = %v, %v", v.Term, err)
	}
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "term: 3y\n" {
		t.Errorf("marshal = %q, %v", out, err)
	}
	if err := yaml.Unmarshal([]byte("a: 1\nterm: three years\n"), &v); err == nil {
		t.Error("a malformed term was accepted")
	}
}

func TestDurationAddToFollowsTheCalendar(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 30, 0, 0, msk) }
	for _, c := range []struct {
		term     string
		from, to time.Time
	}{
		{"30d", day(2025, 1, 15), day(2025, 2, 14)},
		{"1d", day(2024, 12, 31), day(2025, 1, 1)},
		{"1m", day(2025, 1, 15), day(2025, 2, 15)},
		// Civil Code art. 192 p.3: no such day in the last month → its last day.
		{"1m", day(2025, 1, 31), day(2025, 2, 28)},
		{"1m", day(2024, 1, 31), day(2024, 2, 29)},
		{"3m", day(2025, 11, 30), day(2026, 2, 28)},
		{"13m", day(2025, 1, 31), day(2026, 2, 28)},
		{"6m", day(2025, 8, 31), day(2026, 2, 28)},
		{"1y", day(2024, 2, 29), day(2025, 2, 28)},
		{"4y", day(2024, 2, 29), day(2028, 2, 29)},
		{"3y", day(2025, 9, 1), day(2028, 9, 1)},
	} {
		d, err := register.ParseDuration(c.term)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AddTo(c.from); !got.Equal(c.to) || got.Location() != msk {
			t.Errorf("%s after %s = %s, want %s", c.term, c.from.Format(time.DateTime), got.Format(time.DateTime+" MST"), c.to.Format(time.DateTime))
		}
	}
	now := day(2025, 5, 5)
	if got := (register.Duration{}).AddTo(now); !got.Equal(now) {
		t.Errorf("zero duration moved the time to %s", got)
	}
}

func TestDurationText(t *testing.T) {
	for _, c := range []struct {
		term, lang, want string
	}{
		{"1d", "ru", "1 день"}, {"2d", "ru", "2 дня"}, {"5d", "ru", "5 дней"}, {"11d", "ru", "11 дней"},
		{"21d", "ru", "21 день"}, {"22d", "ru", "22 дня"}, {"30d", "ru", "30 дней"}, {"111d", "ru", "111 дней"},
		{"1m", "ru", "1 месяц"}, {"3m", "ru", "3 месяца"}, {"12m", "ru", "12 месяцев"},
		{"1y", "ru", "1 год"}, {"3y", "ru", "3 года"}, {"5y", "ru", "5 лет"}, {"14y", "ru", "14 лет"}, {"50y", "ru", "50 лет"},
		{"1d", "en", "1 day"}, {"30d", "en", "30 days"}, {"1m", "en", "1 month"}, {"6m", "en", "6 months"},
		{"1y", "en", "1 year"}, {"3y", "en", "3 years"},
		{"3y", "de", "3 года"}, // no forms for the language: Russian
	} {
		d, err := register.ParseDuration(c.term)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Text(c.lang); got != c.want {
			t.Errorf("%s in %s = %q, want %q", c.term, c.lang, got, c.want)
		}
	}
	if got := (register.Duration{}).Text("ru"); got != "" {
		t.Errorf("zero duration text = %q", got)
	}
	if got := (register.Duration{N: 3, Unit: 'y'}).String(); got != "3y" {
		t.Errorf("String = %q", got)
	}
}
