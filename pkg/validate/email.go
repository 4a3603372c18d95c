package validate

import (
	"strings"

	"golang.org/x/text/width"
)

// Email makes a practical check of an e-mail address and returns it with the
// domain lower-cased (the local part is kept as typed: it may be case
// sensitive). Rules: surrounding spaces and full-width forms (＠) are folded;
// exactly one @; a local part of 1–64 ASCII dot-atom characters (no leading,
// trailing or double dots); a domain of at least two dot-separated labels,
// each 1–63 of [A-Za-z0-9-] not starting or ending with '-', whose last label
// is at least two letters (or an IDNA "xn--" label); 254 characters in all.
// normalised is "" when ok is false.
func Email(s string) (normalised string, ok bool) {
	t := strings.TrimSpace(width.Narrow.String(s))
	local, domain, found := strings.Cut(t, "@")
	if !found || strings.Contains(domain, "@") {
		return "", false
	}
	if len(local) > 64 || !isDotAtom(local) {
		return "", false
	}
	domain = strings.ToLower(domain)
	if len(domain) > 253 || !isDomain(domain) {
		return "", false
	}
	out := local + "@" + domain
	if len(out) > 254 {
		return "", false
	}
	return out, true
}

// isDotAtom reports whether s is an RFC 5322 dot-atom of ASCII atext.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isASCIILetter(c), c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isDomain checks a lower-cased host name with at least one dot.
func isDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isASCIILetter(c) && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") {
		return len(tld) > len("xn--")
	}
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isASCIILetter(tld[i]) {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
