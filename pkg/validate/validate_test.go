package validate

import (
	"errors"
	"strings"
	"testing"
)

func TestCollectorWithoutViolationsReturnsNil(t *testing.T) {
	t.Parallel()
	var c Collector
	if c.Len() != 0 {
		t.Fatalf("Len() = %d, want 0", c.Len())
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestCollectorGathersEveryViolationInOrder(t *testing.T) {
	t.Parallel()
	var c Collector
	c.Add("name", ReasonRequired, RequiredMessage("客户名称", "Customer name"))
	c.Add("mobile", ReasonInvalidFormat, MobileMessage())
	if c.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", c.Len())
	}
	if !c.Has("mobile") || c.Has("email") {
		t.Fatalf("Has: mobile=%v email=%v, want true false", c.Has("mobile"), c.Has("email"))
	}
	err := c.Err()
	var verr *Error
	if !errors.As(err, &verr) {
		t.Fatalf("Err() = %T, want *Error", err)
	}
	if len(verr.Violations) != 2 || verr.Violations[0].Field != "name" || verr.Violations[1].Reason != ReasonInvalidFormat {
		t.Fatalf("violations = %+v", verr.Violations)
	}
	msg := err.Error()
	for _, want := range []string{"name: Customer name is required", "mobile: invalid mobile number"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, missing %q", msg, want)
		}
	}

	// An error already handed out does not change when more is added.
	c.Add("email", ReasonInvalidFormat, EmailMessage())
	if len(verr.Violations) != 2 {
		t.Fatalf("returned error changed after Add: %d violations", len(verr.Violations))
	}
	if c.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", c.Len())
	}
}

func TestErrorOnEmptyOrNil(t *testing.T) {
	t.Parallel()
	var nilErr *Error
	if got := nilErr.Error(); got != "validation failed" {
		t.Fatalf("nil Error() = %q", got)
	}
	if got := (&Error{}).Error(); got != "validation failed" {
		t.Fatalf("empty Error() = %q", got)
	}
}

func TestMessageText(t *testing.T) {
	t.Parallel()
	m := Message{ZH: "中文", EN: "English"}
	tests := []struct {
		lang, want string
	}{
		{"", "中文"},
		{"zh-CN", "中文"},
		{"zh", "中文"},
		{"en", "English"},
		{"EN-us", "English"},
		{"en_GB", "English"},
		{"eng", "中文"},
		{"fr", "中文"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			if got := m.Text(tt.lang); got != tt.want {
				t.Fatalf("Text(%q) = %q, want %q", tt.lang, got, tt.want)
			}
		})
	}
	if got := (Message{ZH: "只有中文"}).Text("en"); got != "只有中文" {
		t.Fatalf("missing EN falls back to ZH, got %q", got)
	}
}

func TestRuneLenCountsCharactersNotBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"深圳市腾讯", 5},
		{"ＡＢ", 2},
		{"a中b", 3},
	}
	for _, tt := range tests {
		if got := RuneLen(tt.in); got != tt.want {
			t.Errorf("RuneLen(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestMessagesAreBilingual(t *testing.T) {
	t.Parallel()
	msgs := map[string]Message{
		"required":    RequiredMessage("客户名称", "Customer name"),
		"tooLong":     TooLongMessage("备注", "Remarks", 200),
		"mobile":      MobileMessage(),
		"landline":    LandlineMessage(),
		"email":       EmailMessage(),
		"usccFormat":  USCCFormatMessage(),
		"usccCheck":   USCCChecksumMessage(),
		"industry":    IndustryMessage(),
		"province":    ProvinceMessage(),
		"placeholder": PlaceholderNameMessage(),
		"nickname":    NicknameMessage(),
	}
	for name, m := range msgs {
		if m.ZH == "" || m.EN == "" || m.ZH == m.EN {
			t.Errorf("%s: message not bilingual: %+v", name, m)
		}
	}
	if got := TooLongMessage("备注", "Remarks", 200); got.ZH != "备注不能超过200个字符" || got.EN != "Remarks must be at most 200 characters" {
		t.Errorf("TooLongMessage = %+v", got)
	}
	if got := MobileMessage().ZH; got != "联系方式格式错误，需为11位有效手机号" {
		t.Errorf("MobileMessage().ZH = %q, want the SPEC text", got)
	}
}

func TestMaskName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"张三": "张*", "欧阳娜娜": "欧***", "王": "王", "": ""} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}
