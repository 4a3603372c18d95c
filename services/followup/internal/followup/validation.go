package followup

import (
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// Character limits (runes) from the issue, and generous ones where it is silent.
const (
	maxContactName     = 50
	maxContent         = 5000
	maxNextAction      = 500
	maxCompetitorNotes = 1000
	maxUserID          = 64
	// maxFutureSkew is how far contact_time may lie ahead of the server's clock: phones and
	// laptops drift, and a record typed right after a call should not be refused for it.
	maxFutureSkew = 5 * time.Minute
	// maxDueYears bounds how far ahead a due date may be: later dates are typing errors.
	maxDueYears = 5
)

// earliestContact is the earliest contact time accepted; earlier ones are typing errors.
var earliestContact = time.Date(2000, 1, 1, 0, 0, 0, 0, china)

// Normalise trims the text fields and drops sub-microsecond precision from the contact time
// (PostgreSQL keeps microseconds), so that what is returned equals what is stored. Inner line
// breaks of the long texts stay.
func (f *FollowUp) Normalise() {
	for _, p := range []*string{&f.CustomerID, &f.ContactName, &f.Content, &f.NextAction, &f.OwnerID, &f.CompetitorNotes} {
		*p = strings.TrimSpace(*p)
	}
	if !f.ContactTime.IsZero() {
		f.ContactTime = f.ContactTime.Truncate(time.Microsecond)
	}
}

// Validate checks every field and cross-field rule and returns a *validate.Error naming each failing
// field, or nil. now is the current time; creating says whether the record is new, because a new
// record's next action may not be due in the past while an existing one's may (it became overdue).
func (f *FollowUp) Validate(now time.Time, creating bool) error {
	var v validate.Collector

	switch {
	case f.ContactName == "":
		v.Add("contact_name", validate.ReasonRequired, validate.RequiredMessage("联系人", "Contact name"))
	case validate.RuneLen(f.ContactName) > maxContactName:
		v.Add("contact_name", validate.ReasonTooLong, validate.TooLongMessage("联系人", "Contact name", maxContactName))
	}

	switch {
	case f.Method == "":
		v.Add("method", validate.ReasonRequired, validate.RequiredMessage("联系方式", "Contact method"))
	case !slices.Contains(Methods, f.Method):
		v.Add("method", validate.ReasonUnknownCode, validate.Message{ZH: "联系方式无效", EN: "unknown contact method"})
	}

	switch {
	case f.ContactTime.IsZero():
		v.Add("contact_time", validate.ReasonRequired, validate.RequiredMessage("联系时间", "Contact time"))
	case f.ContactTime.After(now.Add(maxFutureSkew)):
		v.Add("contact_time", validate.ReasonInFuture, validate.Message{ZH: "联系时间不能晚于当前时间", EN: "contact time must not be in the future"})
	case f.ContactTime.Before(earliestContact):
		v.Add("contact_time", validate.ReasonOutOfRange, validate.Message{ZH: "联系时间不能早于2000年", EN: "contact time must not be before 2000"})
	}

	switch {
	case f.Kind == "":
		v.Add("kind", validate.ReasonRequired, validate.RequiredMessage("跟进类型", "Follow-up kind"))
	case !slices.Contains(Kinds, f.Kind):
		v.Add("kind", validate.ReasonUnknownCode, validate.Message{ZH: "跟进类型无效", EN: "unknown follow-up kind"})
	}

	switch {
	case f.Content == "":
		v.Add("content", validate.ReasonRequired, validate.RequiredMessage("沟通内容", "Content"))
	case validate.RuneLen(f.Content) > maxContent:
		v.Add("content", validate.ReasonTooLong, validate.TooLongMessage("沟通内容", "Content", maxContent))
	}

	if validate.RuneLen(f.NextAction) > maxNextAction {
		v.Add("next_action", validate.ReasonTooLong, validate.TooLongMessage("后续行动", "Next action", maxNextAction))
	}
	f.validateDue(&v, now, creating)

	if validate.RuneLen(f.CompetitorNotes) > maxCompetitorNotes {
		v.Add("competitor_notes", validate.ReasonTooLong, validate.TooLongMessage("竞品信息", "Competitor notes", maxCompetitorNotes))
	}

	switch {
	case f.OwnerID == "":
		v.Add("owner_id", validate.ReasonRequired, validate.RequiredMessage("负责人", "Owner"))
	case validate.RuneLen(f.OwnerID) > maxUserID:
		v.Add("owner_id", validate.ReasonTooLong, validate.TooLongMessage("负责人", "Owner", maxUserID))
	}
	return v.Err()
}

func (f *FollowUp) validateDue(v *validate.Collector, now time.Time, creating bool) {
	const field = "next_action_due_date"
	d := f.NextActionDue
	today := Today(now)
	switch {
	case d == nil && f.NextAction != "":
		v.Add(field, validate.ReasonRequired, validate.Message{ZH: "填写后续行动时必须填写截止日期", EN: "a next action needs a due date"})
	case d == nil:
	case f.NextAction == "":
		v.Add(field, validate.ReasonNotAllowed, validate.Message{ZH: "没有后续行动时不能填写截止日期", EN: "a due date needs a next action"})
	case !d.Valid():
		v.Add(field, validate.ReasonInvalidFormat, validate.Message{ZH: "截止日期不是有效日期", EN: "the due date is not a valid date"})
	case creating && d.Before(today):
		v.Add(field, validate.ReasonOutOfRange, validate.Message{ZH: "截止日期不能早于今天", EN: "the due date must not be before today"})
	case today.AddDays(365 * maxDueYears).Before(*d):
		v.Add(field, validate.ReasonOutOfRange, validate.Message{ZH: "截止日期不能晚于5年之后", EN: "the due date must be within 5 years"})
	case d.Year < 2000:
		v.Add(field, validate.ReasonOutOfRange, validate.Message{ZH: "截止日期不能早于2000年", EN: "the due date must not be before 2000"})
	}
}
