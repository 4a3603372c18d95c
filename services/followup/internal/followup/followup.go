// Package followup is the follow-up record of a customer (客户联系记录): its fields and the rules
// they obey, the next action's small state machine (open → done, reopened when the action changes),
// due and overdue dates on China's calendar, and the field-level diff used for change events.
//
// It is pure Go: no database, gRPC or NATS imports. The store persists these types and the server
// maps them to and from the API.
package followup

import (
	"errors"
	"fmt"
	"time"
)

// Method is 联系方式, how the customer was contacted.
type Method string

// Contact methods.
const (
	MethodPhone   Method = "phone"
	MethodEmail   Method = "email"
	MethodVisit   Method = "visit"
	MethodWeChat  Method = "wechat"
	MethodMeeting Method = "meeting"
	MethodOther   Method = "other"
)

// Methods lists every valid contact method.
var Methods = []Method{MethodPhone, MethodEmail, MethodVisit, MethodWeChat, MethodMeeting, MethodOther}

// Kind is 跟进类型, what the contact was about.
type Kind string

// Follow-up kinds.
const (
	KindInitial      Kind = "initial"
	KindNeedFollowUp Kind = "need_followup"
	KindContract     Kind = "contract"
	KindAfterSales   Kind = "after_sales"
	KindOther        Kind = "other"
)

// Kinds lists every valid kind.
var Kinds = []Kind{KindInitial, KindNeedFollowUp, KindContract, KindAfterSales, KindOther}

// china is the zone of the calendar that due dates follow. China has no daylight saving time (since
// 1991), so a fixed +08:00 is exact and needs no zoneinfo database.
var china = time.FixedZone("CST", 8*60*60)

// Date is a calendar date without time zone, e.g. a next action's due date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Today is the calendar date in China (Asia/Shanghai) at the instant now.
func Today(now time.Time) Date {
	t := now.In(china)
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
}

// Time returns the date at midnight UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.Time().Before(o.Time()) }

// AddDays returns the date n days later (earlier for negative n).
func (d Date) AddDays(n int) Date {
	t := d.Time().AddDate(0, 0, n)
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
}

// DaysSince returns how many days d lies after o (negative when before).
func (d Date) DaysSince(o Date) int { return int(d.Time().Sub(o.Time()).Hours() / 24) }

// Valid reports whether the date exists on the calendar.
func (d Date) Valid() bool {
	t := d.Time()
	return d.Year >= 1 && t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// FollowUp is one follow-up record.
type FollowUp struct {
	ID          string
	CustomerID  string
	ContactName string
	Method      Method
	ContactTime time.Time
	Kind        Kind
	Content     string
	// NextAction is 后续行动; empty when none.
	NextAction string
	// NextActionDue is the next action's due date; set exactly when NextAction is.
	NextActionDue   *Date
	OwnerID         string
	Done            bool
	DoneAt          *time.Time
	DoneBy          string
	CompetitorNotes string

	// TeamID is the customer's current team, read from the customer projection; the record does
	// not store it, so a customer moving to another team takes its records along.
	TeamID string
	// CustomerDeleted is true when the customer has been deleted (from the customer projection).
	CustomerDeleted bool

	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	DeletedAt *time.Time
	DeletedBy string
	// Version counts the changes of the record; it is the etag.
	Version int64
}

// Errors the store and the domain return; the server maps them to API errors.
var (
	ErrNotFound        = errors.New("follow-up not found")
	ErrStaleEtag       = errors.New("follow-up was changed by someone else")
	ErrRequestUsed     = errors.New("request id was used for a different request")
	ErrAlreadyDone     = errors.New("next action is already done")
	ErrNoNextAction    = errors.New("follow-up has no next action")
	ErrCustomerDeleted = errors.New("customer is deleted")
	ErrNotOwner        = errors.New("follow-up belongs to someone else")
)

// Complete marks the next action done by actor at now. A record without a next action, or one
// already done, cannot be completed.
func (f *FollowUp) Complete(actor string, now time.Time) error {
	switch {
	case f.NextAction == "":
		return ErrNoNextAction
	case f.Done:
		return ErrAlreadyDone
	}
	f.Done, f.DoneAt, f.DoneBy = true, &now, actor
	return nil
}

// Pending reports whether the record has a next action that is not done.
func (f *FollowUp) Pending() bool {
	return f.NextAction != "" && f.NextActionDue != nil && !f.Done
}

// DaysOverdue returns how many days the pending next action is past its due date on today, and
// 0 when it is not overdue (or not pending).
func (f *FollowUp) DaysOverdue(today Date) int {
	if !f.Pending() || !f.NextActionDue.Before(today) {
		return 0
	}
	return today.DaysSince(*f.NextActionDue)
}

// Overdue reports whether the pending next action's due date is before today.
func (f *FollowUp) Overdue(today Date) bool { return f.DaysOverdue(today) > 0 }
