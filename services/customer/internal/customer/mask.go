package customer

import "github.com/crmsuite/crm/pkg/validate"

// Masked returns a copy of the customer with personal information masked (PIPL), for callers whose
// role may not see it unmasked: mobile 138****5678, contact name 张** , landline and e-mail partly
// hidden. Company names are not personal information and stay; an individual's name is masked.
func (c *Customer) Masked() *Customer {
	m := *c
	m.Mobile = validate.MaskMobile(c.Mobile)
	m.ContactName = validate.MaskName(c.ContactName)
	if c.Type == TypeIndividual {
		m.Name = validate.MaskName(c.Name)
	}
	m.Landline = validate.MaskPhone(c.Landline)
	m.Email = validate.MaskEmail(c.Email)
	m.Address.Street = ""
	return &m
}
