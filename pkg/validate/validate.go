// Package validate holds the field rules shared by the CRM services: the
// bilingual violation type and its collector, and checkers for mainland
// mobile and landline numbers, e-mail addresses, the unified social credit
// code (统一社会信用代码, GB 32100-2015), GB/T 4754-2017 industry codes,
// provincial-level divisions and customer names (placeholders, nicknames and
// the folded form used for duplicate detection).
//
// It is pure Go: no I/O and no imports of grpc, pgx or nats. Turning a
// validation Error into a gRPC status is the job of pkg/apierr.
package validate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Reason codes: stable UPPER_SNAKE machine codes carried in every Violation
// and, through pkg/apierr, in google.rpc.BadRequest and ErrorInfo.
const (
	ReasonRequired        = "REQUIRED"
	ReasonTooLong         = "TOO_LONG"
	ReasonInvalidFormat   = "INVALID_FORMAT"
	ReasonInvalidChecksum = "INVALID_CHECKSUM"
	ReasonUnknownCode     = "UNKNOWN_CODE"
	ReasonPlaceholder     = "PLACEHOLDER"
	ReasonNotAllowed      = "NOT_ALLOWED"
	ReasonInFuture        = "IN_FUTURE"
	ReasonOutOfRange      = "OUT_OF_RANGE"
)

// Message is a user-facing text in both languages.
type Message struct{ ZH, EN string }

// Text returns the message for a language tag such as "en", "en-US" or
// "zh-CN"; Chinese is the default for anything that is not English.
func (m Message) Text(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if (l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_")) && m.EN != "" {
		return m.EN
	}
	return m.ZH
}

// Violation is one failing field. Reason is a stable UPPER_SNAKE code.
type Violation struct {
	Field   string
	Reason  string
	Message Message
}

// Error carries every violation of one request, so that a client can show
// them all at once instead of fixing one field per round trip.
type Error struct{ Violations []Violation }

// Error joins the fields and their English messages; the English text keeps
// logs and test failures readable for every engineer.
func (e *Error) Error() string {
	if e == nil || len(e.Violations) == 0 {
		return "validation failed"
	}
	var b strings.Builder
	b.WriteString("validation failed: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Message.EN)
	}
	return b.String()
}

// Collector gathers violations; the zero value is ready to use.
type Collector struct {
	violations []Violation
}

// Add records one failing field.
func (c *Collector) Add(field, reason string, msg Message) {
	c.violations = append(c.violations, Violation{Field: field, Reason: reason, Message: msg})
}

// Len reports how many violations have been gathered.
func (c *Collector) Len() int { return len(c.violations) }

// Has reports whether field already has a violation, so that callers can skip
// further checks of a field that is already known to be wrong.
func (c *Collector) Has(field string) bool {
	for _, v := range c.violations {
		if v.Field == field {
			return true
		}
	}
	return false
}

// Err returns nil when there are no violations, else an *Error holding a
// copy of them (later Adds do not change an error already returned).
func (c *Collector) Err() error {
	if len(c.violations) == 0 {
		return nil
	}
	return &Error{Violations: append([]Violation(nil), c.violations...)}
}

// RuneLen counts characters (runes), not bytes: field limits in the
// specification are in characters, and one Chinese character is 3 bytes.
func RuneLen(s string) int { return utf8.RuneCountInString(s) }

// RequiredMessage is the standard text for a missing field; labelZH and
// labelEN name the field as users know it (e.g. "客户名称", "Customer name").
func RequiredMessage(labelZH, labelEN string) Message {
	return Message{
		ZH: labelZH + "不能为空",
		EN: labelEN + " is required",
	}
}

// TooLongMessage is the standard text for a field over its character limit.
func TooLongMessage(labelZH, labelEN string, limit int) Message {
	return Message{
		ZH: fmt.Sprintf("%s不能超过%d个字符", labelZH, limit),
		EN: fmt.Sprintf("%s must be at most %d characters", labelEN, limit),
	}
}

// MobileMessage is the text for a mobile number that fails Mobile.
func MobileMessage() Message {
	return Message{
		ZH: "联系方式格式错误，需为11位有效手机号",
		EN: "invalid mobile number: expected an 11-digit mainland China mobile number",
	}
}

// LandlineMessage is the text for a number that fails Landline.
func LandlineMessage() Message {
	return Message{
		ZH: "固定电话格式错误，需为“区号-号码[-分机]”，如 010-12345678",
		EN: "invalid landline number: expected area code-number[-extension], e.g. 010-12345678",
	}
}

// EmailMessage is the text for an address that fails Email.
func EmailMessage() Message {
	return Message{
		ZH: "电子邮箱格式错误",
		EN: "invalid e-mail address",
	}
}

// USCCFormatMessage is the text for a code that fails USCC for a reason
// other than its check character.
func USCCFormatMessage() Message {
	return Message{
		ZH: "统一社会信用代码格式错误，需为18位数字或大写字母（不含I、O、S、V、Z）",
		EN: "invalid unified social credit code: expected 18 digits or capital letters (no I, O, S, V, Z)",
	}
}

// USCCChecksumMessage is the text for a code whose only fault is its check
// character, usually a typing error.
func USCCChecksumMessage() Message {
	return Message{
		ZH: "统一社会信用代码校验位错误，请核对后重新输入",
		EN: "unified social credit code check character is wrong; please check the code",
	}
}

// IndustryMessage is the text for a code that LookupIndustry does not know.
func IndustryMessage() Message {
	return Message{
		ZH: "所属行业代码无效，需为GB/T 4754-2017门类字母或两位大类代码，如 C39",
		EN: "unknown industry code: expected a GB/T 4754-2017 section letter or 2-digit division, e.g. C39",
	}
}

// ProvinceMessage is the text for a name that Province does not know.
func ProvinceMessage() Message {
	return Message{
		ZH: "省份无效，需为34个省级行政区之一",
		EN: "unknown province: expected one of the 34 provincial-level divisions",
	}
}

// PlaceholderNameMessage is the text for a name refused by PlaceholderName.
func PlaceholderNameMessage() Message {
	return Message{
		ZH: "名称不能为“某公司”“未知”“待确认”等模糊占位内容，请填写真实全称",
		EN: "name must not be a placeholder such as \"某公司\", \"unknown\" or \"TBD\"; enter the real full name",
	}
}

// NicknameMessage is the warning text for a contact name flagged by
// NicknameLike.
func NicknameMessage() Message {
	return Message{
		ZH: "联系人建议填写真实姓名，而非“李总”“王经理”等称呼",
		EN: "contact should be a real name rather than a form of address such as \"李总\" (Mr Li)",
	}
}
