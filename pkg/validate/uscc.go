package validate

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// usccCharset lists the 31 characters a unified social credit code may use,
// in value order (0–30): digits and capital letters without I, O, S, V, Z,
// which are too easily confused with 1, 0, 5, U and 2.
const usccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccRegistrars are the 登记管理部门代码 in use: 1 机构编制, 2 外交, 3 司法行政,
// 4 文化, 5 民政, 6 旅游, 7 宗教, 8 工会, 9 市场监管(工商), A 中央军委改革和编制办公室,
// N 农业农村, Y 其他. All of them appear on real codes (law firms start 31,
// trade unions 81), so the check does not stop at the common 1, 5, 9 and Y.
const usccRegistrars = "123456789ANY"

// USCC normalises and checks a 统一社会信用代码 (GB 32100-2015). Input is
// folded to half-width upper case with spaces removed. The code must be 18
// characters from usccCharset: a registrar code (usccRegistrars), an
// organisation category digit 1–9, a 6-digit administrative division code,
// a 9-character body identifier and a check character. When everything but
// the check character is right, ok is false and badChecksum is true, so that
// callers can report INVALID_CHECKSUM (a typo) rather than INVALID_FORMAT.
// normalised is "" when ok is false.
func USCC(s string) (normalised string, ok bool, badChecksum bool) {
	var b strings.Builder
	for _, r := range width.Narrow.String(s) {
		if unicode.IsSpace(r) {
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	c := b.String()
	if len(c) != 18 {
		return "", false, false
	}
	for i := 0; i < len(c); i++ {
		if strings.IndexByte(usccCharset, c[i]) < 0 {
			return "", false, false
		}
	}
	if strings.IndexByte(usccRegistrars, c[0]) < 0 || c[1] < '1' || c[1] > '9' || !isASCIIDigits(c[2:8]) {
		return "", false, false
	}
	check, _ := USCCCheckChar(c[:17])
	if c[17] != check {
		return "", false, true
	}
	return c, true, false
}

// USCCCheckChar computes the check character for the first 17 characters of
// a unified social credit code: C18 = 31 − (Σ value(Ci)·Wi mod 31), with
// 31 written as 0, where the weights 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25,
// 13, 8, 24, 10, 30, 28 are 3^i mod 31. ok is false when body is not 17
// characters of usccCharset.
func USCCCheckChar(body string) (check byte, ok bool) {
	if len(body) != 17 {
		return 0, false
	}
	sum, weight := 0, 1
	for i := 0; i < len(body); i++ {
		v := strings.IndexByte(usccCharset, body[i])
		if v < 0 {
			return 0, false
		}
		sum += v * weight
		weight = weight * 3 % 31
	}
	return usccCharset[(31-sum%31)%31], true
}
