package validate

import "strings"

// The maskers hide personal information (PIPL) from those who may not see it: roles without PII
// permission, exports by default, the analytics feed of events.

// MaskName masks a person's name: the first character (the surname) stays, 张三 → 张*,
// 欧阳娜娜 → 欧***.
func MaskName(s string) string {
	r := []rune(s)
	if len(r) <= 1 {
		return s
	}
	return string(r[:1]) + strings.Repeat("*", len(r)-1)
}

// MaskMobile keeps the first three and last four digits: 13812345678 → 138****5678.
func MaskMobile(s string) string {
	r := []rune(s)
	if len(r) < 8 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

// MaskPhone keeps the last four characters of a landline: 0571-88886666 → *********6666.
func MaskPhone(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return s
	}
	return strings.Repeat("*", len(r)-4) + string(r[len(r)-4:])
}

// MaskEmail keeps the first character and the domain: zhang.wei@example.com → z***@example.com.
func MaskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return s
	}
	return s[:1] + "***" + s[at:]
}
