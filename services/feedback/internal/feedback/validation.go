package feedback

import (
	"strings"

	"github.com/crmsuite/crm/pkg/validate"
)

// Character limits (runes).
const (
	maxContent = 5000
	maxPlan    = 2000
	maxResult  = 2000
	maxUserID  = 64
	// MaxReason limits status-change and delete reasons.
	MaxReason = 500
)

// Normalise trims the text fields, so that blank input counts as empty.
func (f *Feedback) Normalise() {
	for _, p := range []*string{&f.CustomerID, &f.Content, &f.Plan, &f.Result, &f.HandlerID} {
		*p = strings.TrimSpace(*p)
	}
}

// Validate checks every field and cross-field rule and returns a *validate.Error naming each
// failing field, or nil.
func (f *Feedback) Validate() error {
	var v validate.Collector
	if f.CustomerID == "" {
		v.Add("customer_id", validate.ReasonRequired, validate.RequiredMessage("客户编号", "Customer id"))
	}
	switch {
	case f.Type == "":
		v.Add("type", validate.ReasonRequired, validate.RequiredMessage("反馈类型", "Feedback type"))
	case !f.Type.valid():
		v.Add("type", validate.ReasonUnknownCode, validate.Message{ZH: "反馈类型无效", EN: "unknown feedback type"})
	}
	switch {
	case f.Content == "":
		v.Add("content", validate.ReasonRequired, validate.RequiredMessage("反馈内容", "Content"))
	case validate.RuneLen(f.Content) > maxContent:
		v.Add("content", validate.ReasonTooLong, validate.TooLongMessage("反馈内容", "Content", maxContent))
	}
	switch {
	case f.Channel == "":
		v.Add("channel", validate.ReasonRequired, validate.RequiredMessage("反馈渠道", "Channel"))
	case !f.Channel.valid():
		v.Add("channel", validate.ReasonUnknownCode, validate.Message{ZH: "反馈渠道无效", EN: "unknown feedback channel"})
	}
	if !f.Status.valid() {
		v.Add("status", validate.ReasonUnknownCode, validate.Message{ZH: "处理状态无效", EN: "unknown feedback status"})
	}
	if validate.RuneLen(f.HandlerID) > maxUserID {
		v.Add("handler_id", validate.ReasonTooLong, validate.TooLongMessage("处理人", "Handler", maxUserID))
	}
	if validate.RuneLen(f.Plan) > maxPlan {
		v.Add("plan", validate.ReasonTooLong, validate.TooLongMessage("处理方案", "Plan", maxPlan))
	}
	if validate.RuneLen(f.Result) > maxResult {
		v.Add("result", validate.ReasonTooLong, validate.TooLongMessage("处理结果", "Result", maxResult))
	}
	// Resolved feedback keeps its plan and result: they are what "resolved" means.
	if f.Status == StatusResolved {
		if f.Plan == "" && !v.Has("plan") {
			v.Add("plan", validate.ReasonRequired, validate.Message{ZH: "已完成的反馈必须有处理方案", EN: "resolved feedback must have a plan"})
		}
		if f.Result == "" && !v.Has("result") {
			v.Add("result", validate.ReasonRequired, validate.Message{ZH: "已完成的反馈必须有处理结果", EN: "resolved feedback must have a result"})
		}
	}
	switch {
	case f.Satisfaction < 0 || f.Satisfaction > 5:
		v.Add("satisfaction", validate.ReasonOutOfRange, validate.Message{ZH: "满意度须为 1 到 5 分（0 表示未评价）", EN: "satisfaction must be 1 to 5 (0 for not rated)"})
	case f.Satisfaction > 0 && f.Status != StatusResolved && f.Status != StatusClosed:
		v.Add("satisfaction", validate.ReasonNotAllowed, validate.Message{ZH: "只有已完成或已关闭的反馈可以评价满意度", EN: "satisfaction can only be rated for resolved or closed feedback"})
	}
	return v.Err()
}

// ValidateReason checks a free-text reason (delete, status change); required says whether it may be empty.
func ValidateReason(field, reason string, required bool) error {
	reason = strings.TrimSpace(reason)
	switch {
	case required && reason == "":
		return violation(field, validate.ReasonRequired, validate.RequiredMessage("原因", "Reason"))
	case validate.RuneLen(reason) > MaxReason:
		return violation(field, validate.ReasonTooLong, validate.TooLongMessage("原因", "Reason", MaxReason))
	}
	return nil
}
