package validate

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Mobile normalises a mainland China mobile number and reports whether it is
// valid. It folds full-width characters to ASCII, removes spaces and dashes,
// and strips one leading +86, 0086 or 86 country prefix, but only when exactly
// 11 digits remain (so a bare 11-digit number starting with 86… is never
// cut). The result must match ^1[3-9]\d{9}$. normalised is "" when ok is false.
func Mobile(s string) (normalised string, ok bool) {
	var b strings.Builder
	for _, r := range width.Narrow.String(s) {
		if unicode.IsSpace(r) || isDash(r) {
			continue
		}
		b.WriteRune(r)
	}
	d := b.String()
	for _, prefix := range []string{"+86", "0086", "86"} {
		if rest, found := strings.CutPrefix(d, prefix); found && len(rest) == 11 && isASCIIDigits(rest) {
			d = rest
			break
		}
	}
	if !isMobile(d) {
		return "", false
	}
	return d, true
}

// isMobile reports whether d matches ^1[3-9]\d{9}$.
func isMobile(d string) bool {
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' && isASCIIDigits(d)
}

// Landline normalises a mainland fixed-line number written as
// 区号-号码[-分机] and reports whether it is valid. The area code is 0 plus
// 2 or 3 digits following the national plan (010, 02X, or 0[3-9]XX); the
// subscriber number has 7 or 8 digits and does not start with 0 or 1; the
// optional extension has 1 to 6 digits. Full-width digits and hyphens,
// other dash characters, spaces around hyphens and a parenthesised area code
// ("(0755)12345678") are accepted. The result looks like "010-12345678" or
// "0755-1234567-123"; normalised is "" when ok is false.
func Landline(s string) (normalised string, ok bool) {
	t := strings.Map(func(r rune) rune {
		if isDash(r) {
			return '-'
		}
		return r
	}, width.Narrow.String(s))
	t = strings.TrimSpace(t)
	// "(0755) 1234567" is how many business cards print it.
	if rest, found := strings.CutPrefix(t, "("); found {
		area, number, closed := strings.Cut(rest, ")")
		if !closed {
			return "", false
		}
		number = strings.TrimSpace(number)
		number = strings.TrimPrefix(number, "-")
		t = strings.TrimSpace(area) + "-" + number
	}
	parts := strings.Split(t, "-")
	if len(parts) != 2 && len(parts) != 3 {
		return "", false
	}
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if !isASCIIDigits(parts[i]) {
			return "", false
		}
	}
	if !isAreaCode(parts[0]) {
		return "", false
	}
	if n := parts[1]; len(n) < 7 || len(n) > 8 || n[0] == '0' || n[0] == '1' {
		return "", false
	}
	if len(parts) == 3 && len(parts[2]) > 6 {
		return "", false
	}
	return strings.Join(parts, "-"), true
}

// isAreaCode reports whether a is a mainland trunk area code: the 2-digit
// codes are 10 and 2X (the largest cities), the 3-digit ones start with 3–9.
func isAreaCode(a string) bool {
	switch len(a) {
	case 3:
		return a[0] == '0' && (a[1:] == "10" || a[1] == '2')
	case 4:
		return a[0] == '0' && a[1] >= '3' && a[1] <= '9'
	}
	return false
}

// isDash reports the hyphen-like characters people and input methods type
// between groups of digits.
func isDash(r rune) bool {
	switch r {
	case '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\uFE58', '\uFE63', '\uFF0D':
		return true
	}
	return false
}

// isASCIIDigits reports whether s is non-empty and only ASCII digits
// (unicode.IsDigit would also accept Arabic-Indic and other digits).
func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
