package validate

import "strings"

// MaskName masks a person's name for roles without access to personal information (PIPL): the
// first character (the surname) stays, 张三 → 张*, 欧阳娜娜 → 欧***.
func MaskName(s string) string {
	r := []rune(s)
	if len(r) <= 1 {
		return s
	}
	return string(r[:1]) + strings.Repeat("*", len(r)-1)
}
