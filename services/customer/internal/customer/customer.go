// Package customer is the customer master record (客户基本信息): its fields, the rules they obey,
// the lifecycle state machine and the field-level diff used for change events.
//
// It is pure Go: no database, gRPC or NATS imports. The store persists these types and the server
// maps them to and from the API.
package customer

import (
	"errors"
	"time"
)

// Type is 客户类型.
type Type string

// Customer types.
const (
	TypeEnterprise  Type = "enterprise"
	TypeIndividual  Type = "individual"
	TypeInstitution Type = "institution"
	TypePartner     Type = "partner"
	TypeChannel     Type = "channel"
	TypeOther       Type = "other"
)

// Types lists every valid customer type.
var Types = []Type{TypeEnterprise, TypeIndividual, TypeInstitution, TypePartner, TypeChannel, TypeOther}

// Scale is 客户规模.
type Scale string

// Scale bands: employee counts for organisations, two bands for individuals.
const (
	Scale1To50             Scale = "1-50"
	Scale51To200           Scale = "51-200"
	Scale201To500          Scale = "201-500"
	Scale501To1000         Scale = "501-1000"
	ScaleOver1000          Scale = "1000+"
	ScaleIndividualStd     Scale = "individual_standard"
	ScaleIndividualPremium Scale = "individual_premium"
)

// Scales lists every valid scale band.
var Scales = []Scale{Scale1To50, Scale51To200, Scale201To500, Scale501To1000, ScaleOver1000, ScaleIndividualStd, ScaleIndividualPremium}

func (s Scale) individual() bool { return s == ScaleIndividualStd || s == ScaleIndividualPremium }

// Source is 客户来源.
type Source string

// Customer sources. The empty source means "not recorded".
const (
	SourceOnline     Source = "online"
	SourceExhibition Source = "exhibition"
	SourceReferral   Source = "referral"
	SourceVisit      Source = "visit"
	SourcePartner    Source = "partner"
	SourceInbound    Source = "inbound"
	SourceOther      Source = "other"
)

// Sources lists every valid source.
var Sources = []Source{SourceOnline, SourceExhibition, SourceReferral, SourceVisit, SourcePartner, SourceInbound, SourceOther}

// Address is 客户地址.
type Address struct {
	Province string
	City     string
	District string
	Street   string
}

// Consent is the customer's PIPL consent (个人信息处理授权).
type Consent struct {
	Purpose     string
	ObtainedAt  *time.Time
	Channel     string
	EvidenceRef string
	WithdrawnAt *time.Time
}

// Date is a calendar date without time zone, e.g. 首次接触时间.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Time returns the date at midnight UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// valid reports whether the date exists on the calendar.
func (d Date) valid() bool {
	t := d.Time()
	return d.Year >= 1900 && t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// Customer is one customer master record.
type Customer struct {
	ID               string
	Name             string
	Type             Type
	Industry         string
	USCC             string
	ContactName      string
	ContactTitle     string
	Mobile           string
	Landline         string
	Email            string
	Address          Address
	Scale            Scale
	Status           Status
	Source           Source
	FirstContactDate *Date
	OwnerID          string
	TeamID           string
	// AmountFen is 年度预估合作金额 in fen (1/100 CNY); nil when not estimated.
	AmountFen *int64
	Remarks   string
	Consent   *Consent

	StatusChangedAt time.Time
	StatusChangedBy string
	CreatedAt       time.Time
	CreatedBy       string
	UpdatedAt       time.Time
	UpdatedBy       string
	DeletedAt       *time.Time
	DeletedBy       string
	DeleteReason    string
	// Level (high, medium, low) follows the tagging service's level tag.
	Level string
	// LastFollowUpAt follows the follow-up service's records.
	LastFollowUpAt *time.Time
	// MergedInto names the surviving customer after a merge.
	MergedInto string
	// Version counts the changes of the record; it is the etag.
	Version int64
}

// Deleted reports whether the customer is soft-deleted.
func (c *Customer) Deleted() bool { return c.DeletedAt != nil }

// Errors the store and the domain return; the server maps them to API errors.
var (
	ErrNotFound    = errors.New("customer not found")
	ErrStaleEtag   = errors.New("customer was changed by someone else")
	ErrDeleted     = errors.New("customer is deleted")
	ErrNotDeleted  = errors.New("customer is not deleted")
	ErrUSCCTaken   = errors.New("uscc belongs to another customer")
	ErrRequestUsed = errors.New("request id was used for a different request")
)

// DuplicateError lists the existing customers a new one looks like.
type DuplicateError struct {
	// ExactUSCC is true when a live customer has the same USCC; such a duplicate cannot be confirmed.
	ExactUSCC  bool
	Candidates []Candidate
}

// Candidate is an existing customer that matches a new one.
type Candidate struct {
	ID      string
	Name    string
	OwnerID string
	// Matched lists the fields that matched: uscc, name, mobile, email.
	Matched []string
}

func (e *DuplicateError) Error() string { return "customer looks like an existing one" }
