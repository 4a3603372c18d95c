package customer

import (
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// Character limits (runes) from the specification, and generous ones where it is silent.
const (
	maxName         = 50
	maxContactName  = 30
	maxContactTitle = 30
	maxCity         = 30
	maxDistrict     = 30
	maxStreet       = 100
	maxRemarks      = 200
	maxUserID       = 64
	maxConsentText  = 200
	maxReason       = 200
	// maxAmountFen caps 年度预估合作金额 at one trillion yuan: larger values are typing errors.
	maxAmountFen = 100_000_000_000_000
)

// Normalise trims every text field and rewrites phone numbers, e-mail, USCC, industry and province
// into their canonical forms, so that equal values compare equal and duplicates are found.
// Values that cannot be normalised are kept (trimmed) for Validate to report.
func (c *Customer) Normalise() {
	for _, p := range []*string{&c.Name, &c.Industry, &c.USCC, &c.ContactName, &c.ContactTitle, &c.Mobile,
		&c.Landline, &c.Email, &c.Address.Province, &c.Address.City, &c.Address.District, &c.Address.Street,
		&c.OwnerID, &c.TeamID, &c.Remarks} {
		*p = strings.TrimSpace(*p)
	}
	if v, ok := validate.Mobile(c.Mobile); ok {
		c.Mobile = v
	}
	if v, ok := validate.Landline(c.Landline); ok {
		c.Landline = v
	}
	if v, ok := validate.Email(c.Email); ok {
		c.Email = v
	}
	if c.USCC != "" {
		c.USCC = strings.ToUpper(c.USCC)
		if v, ok, _ := validate.USCC(c.USCC); ok {
			c.USCC = v
		}
	}
	if ind, ok := validate.LookupIndustry(c.Industry); ok {
		c.Industry = ind.Code
	}
	if p, ok := validate.Province(c.Address.Province); ok {
		c.Address.Province = p
	}
	if c.Consent != nil {
		c.Consent.Purpose = strings.TrimSpace(c.Consent.Purpose)
		c.Consent.Channel = strings.TrimSpace(c.Consent.Channel)
		c.Consent.EvidenceRef = strings.TrimSpace(c.Consent.EvidenceRef)
	}
}

// Validate checks every field and cross-field rule and returns a *validate.Error naming each failing
// field, or nil. now is the current time, for dates that may not lie in the future.
func (c *Customer) Validate(now time.Time) error {
	var v validate.Collector

	switch {
	case c.Name == "":
		v.Add("name", validate.ReasonRequired, validate.RequiredMessage("客户名称", "Customer name"))
	case validate.RuneLen(c.Name) > maxName:
		v.Add("name", validate.ReasonTooLong, validate.TooLongMessage("客户名称", "Customer name", maxName))
	case validate.PlaceholderName(c.Name):
		v.Add("name", validate.ReasonPlaceholder, validate.PlaceholderNameMessage())
	}

	switch {
	case c.Type == "":
		v.Add("type", validate.ReasonRequired, validate.RequiredMessage("客户类型", "Customer type"))
	case !slices.Contains(Types, c.Type):
		v.Add("type", validate.ReasonUnknownCode, validate.Message{ZH: "客户类型无效", EN: "unknown customer type"})
	}

	switch {
	case c.Industry == "" && c.Type == TypeEnterprise:
		v.Add("industry", validate.ReasonRequired, validate.Message{
			ZH: "企业客户必须填写所属行业（GB/T 4754-2017 行业代码，如 I65）",
			EN: "industry is required for enterprise customers (a GB/T 4754-2017 code such as I65)",
		})
	case c.Industry != "":
		if _, ok := validate.LookupIndustry(c.Industry); !ok {
			v.Add("industry", validate.ReasonUnknownCode, validate.IndustryMessage())
		}
	}

	if c.USCC != "" {
		if _, ok, badChecksum := validate.USCC(c.USCC); !ok {
			if badChecksum {
				v.Add("uscc", validate.ReasonInvalidChecksum, validate.USCCChecksumMessage())
			} else {
				v.Add("uscc", validate.ReasonInvalidFormat, validate.USCCFormatMessage())
			}
		}
	}

	switch {
	case c.ContactName == "":
		v.Add("contact_name", validate.ReasonRequired, validate.RequiredMessage("联系人", "Contact name"))
	case validate.RuneLen(c.ContactName) > maxContactName:
		v.Add("contact_name", validate.ReasonTooLong, validate.TooLongMessage("联系人", "Contact name", maxContactName))
	}
	if validate.RuneLen(c.ContactTitle) > maxContactTitle {
		v.Add("contact_title", validate.ReasonTooLong, validate.TooLongMessage("职位", "Contact title", maxContactTitle))
	}

	switch {
	case c.Mobile == "":
		v.Add("mobile", validate.ReasonRequired, validate.RequiredMessage("联系方式(手机)", "Mobile"))
	default:
		if _, ok := validate.Mobile(c.Mobile); !ok {
			v.Add("mobile", validate.ReasonInvalidFormat, validate.MobileMessage())
		}
	}
	if c.Landline != "" {
		if _, ok := validate.Landline(c.Landline); !ok {
			v.Add("landline", validate.ReasonInvalidFormat, validate.LandlineMessage())
		}
	}
	if c.Email != "" {
		if _, ok := validate.Email(c.Email); !ok {
			v.Add("email", validate.ReasonInvalidFormat, validate.EmailMessage())
		}
	}

	c.validateAddress(&v)

	switch {
	case c.Scale == "":
		v.Add("scale", validate.ReasonRequired, validate.RequiredMessage("客户规模", "Scale"))
	case !slices.Contains(Scales, c.Scale):
		v.Add("scale", validate.ReasonUnknownCode, validate.Message{ZH: "客户规模无效", EN: "unknown scale"})
	case c.Type == TypeIndividual && !c.Scale.individual():
		v.Add("scale", validate.ReasonNotAllowed, validate.Message{
			ZH: "个人客户的规模只能是个人标准或个人高端",
			EN: "an individual customer's scale must be individual_standard or individual_premium",
		})
	case c.Type != TypeIndividual && c.Type != "" && c.Scale.individual():
		v.Add("scale", validate.ReasonNotAllowed, validate.Message{
			ZH: "个人规模只适用于个人客户，请选择人数区间",
			EN: "individual scales apply to individual customers only; choose an employee band",
		})
	}

	if !c.Status.valid() {
		v.Add("status", validate.ReasonUnknownCode, validate.Message{ZH: "客户状态无效", EN: "unknown customer status"})
	}
	if c.Source != "" && !slices.Contains(Sources, c.Source) {
		v.Add("source", validate.ReasonUnknownCode, validate.Message{ZH: "客户来源无效", EN: "unknown customer source"})
	}

	if d := c.FirstContactDate; d != nil {
		switch {
		case !d.valid():
			v.Add("first_contact_date", validate.ReasonInvalidFormat, validate.Message{ZH: "首次接触时间不是有效日期", EN: "first contact date is not a valid date"})
		case d.Time().After(now):
			v.Add("first_contact_date", validate.ReasonInFuture, validate.Message{ZH: "首次接触时间不能晚于今天", EN: "first contact date must not be in the future"})
		}
	}

	for _, f := range []struct{ name, value string }{{"owner_id", c.OwnerID}, {"team_id", c.TeamID}} {
		if validate.RuneLen(f.value) > maxUserID {
			v.Add(f.name, validate.ReasonTooLong, validate.TooLongMessage(f.name, f.name, maxUserID))
		}
	}

	if c.AmountFen != nil {
		switch {
		case *c.AmountFen < 0 || *c.AmountFen > maxAmountFen:
			v.Add("estimated_annual_amount", validate.ReasonOutOfRange, validate.Message{
				ZH: "年度预估合作金额须在 0 到 1 万亿元之间", EN: "estimated annual amount must be between 0 and 1 trillion CNY",
			})
		case !c.Status.allowsAmount():
			v.Add("estimated_annual_amount", validate.ReasonNotAllowed, validate.Message{
				ZH: "只有意向客户和合作中客户可以填写年度预估合作金额",
				EN: "an estimated annual amount is only for customers in status intention or active",
			})
		}
	}

	if validate.RuneLen(c.Remarks) > maxRemarks {
		v.Add("remarks", validate.ReasonTooLong, validate.TooLongMessage("备注", "Remarks", maxRemarks))
	}

	c.validateConsent(&v, now)
	return v.Err()
}

func (c *Customer) validateAddress(v *validate.Collector) {
	a := c.Address
	switch {
	case a.Province == "":
		v.Add("address.province", validate.ReasonRequired, validate.RequiredMessage("省份", "Province"))
	default:
		if _, ok := validate.Province(a.Province); !ok {
			v.Add("address.province", validate.ReasonUnknownCode, validate.ProvinceMessage())
		}
	}
	switch {
	case a.City == "":
		v.Add("address.city", validate.ReasonRequired, validate.RequiredMessage("城市", "City"))
	case validate.RuneLen(a.City) > maxCity:
		v.Add("address.city", validate.ReasonTooLong, validate.TooLongMessage("城市", "City", maxCity))
	}
	if validate.RuneLen(a.District) > maxDistrict {
		v.Add("address.district", validate.ReasonTooLong, validate.TooLongMessage("区县", "District", maxDistrict))
	}
	if validate.RuneLen(a.Street) > maxStreet {
		v.Add("address.street", validate.ReasonTooLong, validate.TooLongMessage("详细地址", "Street", maxStreet))
	}
}

func (c *Customer) validateConsent(v *validate.Collector, now time.Time) {
	cs := c.Consent
	if cs == nil {
		return
	}
	if cs.Purpose == "" {
		v.Add("consent.purpose", validate.ReasonRequired, validate.RequiredMessage("授权用途", "Consent purpose"))
	}
	if cs.ObtainedAt == nil {
		v.Add("consent.obtain_time", validate.ReasonRequired, validate.RequiredMessage("授权时间", "Consent time"))
	} else if cs.ObtainedAt.After(now.Add(time.Minute)) {
		v.Add("consent.obtain_time", validate.ReasonInFuture, validate.Message{ZH: "授权时间不能晚于当前时间", EN: "consent time must not be in the future"})
	}
	if cs.WithdrawnAt != nil && cs.ObtainedAt != nil && cs.WithdrawnAt.Before(*cs.ObtainedAt) {
		v.Add("consent.withdraw_time", validate.ReasonOutOfRange, validate.Message{ZH: "撤回时间不能早于授权时间", EN: "withdrawal must not be before the consent"})
	}
	for _, f := range []struct{ name, zh, en, value string }{
		{"consent.purpose", "授权用途", "Consent purpose", cs.Purpose},
		{"consent.channel", "授权渠道", "Consent channel", cs.Channel},
		{"consent.evidence_ref", "授权凭证", "Consent evidence", cs.EvidenceRef},
	} {
		if validate.RuneLen(f.value) > maxConsentText {
			v.Add(f.name, validate.ReasonTooLong, validate.TooLongMessage(f.zh, f.en, maxConsentText))
		}
	}
}

// ValidateReason checks a free-text reason (delete, status change); required says whether it may be empty.
func ValidateReason(field, reason string, required bool) error {
	var v validate.Collector
	switch {
	case required && strings.TrimSpace(reason) == "":
		v.Add(field, validate.ReasonRequired, validate.RequiredMessage("原因", "Reason"))
	case validate.RuneLen(reason) > maxReason:
		v.Add(field, validate.ReasonTooLong, validate.TooLongMessage("原因", "Reason", maxReason))
	}
	return v.Err()
}

// Warning is a non-blocking remark about a field.
type Warning struct {
	Field, Reason string
	Message       validate.Message
}

// Warnings lists remarks that do not block saving, such as a contact name that looks like a title.
func (c *Customer) Warnings() []Warning {
	var w []Warning
	if validate.NicknameLike(c.ContactName) {
		w = append(w, Warning{Field: "contact_name", Reason: "NICKNAME_LIKE", Message: validate.NicknameMessage()})
	}
	return w
}

// NameKey is the folded name used to find duplicates (full/half width, spaces and legal-form
// suffixes such as 有限公司 ignored).
func (c *Customer) NameKey() string { return validate.NormaliseName(c.Name) }
