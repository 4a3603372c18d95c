package customer

import (
	"strings"

	"github.com/crmsuite/crm/pkg/validate"
)

// Masked returns a copy of the customer with personal information masked (PIPL), for callers whose
// role may not see it unmasked: mobile 138****5678, contact name 张** , landline and e-mail partly
// hidden. Company names are not personal information and stay; an individual's name is masked.
func (c *Customer) Masked() *Customer {
	m := *c
	m.Mobile = MaskMobile(c.Mobile)
	m.ContactName = validate.MaskName(c.ContactName)
	if c.Type == TypeIndividual {
		m.Name = validate.MaskName(c.Name)
	}
	m.Landline = maskTail(c.Landline, 4)
	m.Email = maskEmail(c.Email)
	m.Address.Street = ""
	return &m
}

// MaskMobile keeps the first three and last four digits: 13812345678 → 138****5678.
func MaskMobile(s string) string {
	r := []rune(s)
	if len(r) < 8 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

func maskTail(s string, keep int) string {
	r := []rune(s)
	if len(r) <= keep {
		return s
	}
	return strings.Repeat("*", len(r)-keep) + string(r[len(r)-keep:])
}

func maskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return s
	}
	return s[:1] + "***" + s[at:]
}
