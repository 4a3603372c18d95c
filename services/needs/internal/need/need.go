// Package need is the customer need or sales opportunity (客户需求 / 商机): its fields and the rules
// they obey, the stage state machine of the sales pipeline, the pipeline arithmetic (stage
// probabilities, weighted forecast in integer fen), list filters and the field-level diff used for
// change events.
//
// It is pure Go: no database, gRPC or NATS imports. The store persists these types and the server
// maps them to and from the API.
package need

import (
	"errors"
	"time"
)

// Type is 需求类型.
type Type string

// Need types.
const (
	TypeProductInquiry Type = "product_inquiry"
	TypeCustomService  Type = "custom_service"
	TypePartnership    Type = "partnership"
	TypeProcurement    Type = "procurement"
	TypeOther          Type = "other"
)

// Types lists every valid need type.
var Types = []Type{TypeProductInquiry, TypeCustomService, TypePartnership, TypeProcurement, TypeOther}

// Date is a calendar date without time zone, e.g. 预计成交日期.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Time returns the date at midnight UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date { return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()} }

// Valid reports whether the date exists on the calendar (years 1900–9999).
func (d Date) Valid() bool {
	t := d.Time()
	return d.Year >= 1900 && d.Year <= 9999 && t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// Need is one customer need or sales opportunity.
type Need struct {
	ID          string
	CustomerID  string
	Title       string
	Type        Type
	Description string
	// BudgetMinFen and BudgetMaxFen are 预算范围 in fen (1/100 CNY); nil when not given.
	BudgetMinFen *int64
	BudgetMaxFen *int64
	DeliveryDate *Date
	CloseDate    *Date
	// AmountFen is 预计成交金额 in fen; nil when not estimated.
	AmountFen   *int64
	Stage       Stage
	LostReason  string
	Department  string
	OwnerID     string
	Competitors []string
	// TeamID is the customer's team and CustomerDeleted whether the customer is soft-deleted, both
	// read from the customer projection with the need; they are not stored with it.
	TeamID          string
	CustomerDeleted bool

	StageChangedAt time.Time
	StageChangedBy string
	CreatedAt      time.Time
	CreatedBy      string
	UpdatedAt      time.Time
	UpdatedBy      string
	DeletedAt      *time.Time
	DeletedBy      string
	// Version counts the changes of the record; it is the etag.
	Version int64
}

// Deleted reports whether the need is soft-deleted.
func (n *Need) Deleted() bool { return n.DeletedAt != nil }

// StageChange is one entry of a need's stage history. From is empty for the entry written when the
// need was created.
type StageChange struct {
	ID        int64
	NeedID    string
	From, To  Stage
	Reason    string
	Reopened  bool
	ChangedAt time.Time
	ChangedBy string
}

// Errors the store and the domain return; the server maps them to API errors.
var (
	ErrNotFound        = errors.New("need not found")
	ErrStaleEtag       = errors.New("need was changed by someone else")
	ErrRequestUsed     = errors.New("request id was used for a different request")
	ErrCustomerDeleted = errors.New("the need's customer is deleted")
)
