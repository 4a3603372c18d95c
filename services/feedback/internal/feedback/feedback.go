// Package feedback is customer feedback and complaints (客户反馈与投诉): the record, the rules its
// fields obey, the status state machine, the response deadline (SLA) of complaints and the
// field-level diff used for change events.
//
// It is pure Go: no database, gRPC or NATS imports. Rules that depend on time take `now` as a
// parameter, so they are tested with a fixed clock. The store persists these types and the
// server maps them to and from the API.
package feedback

import (
	"errors"
	"slices"
	"time"
)

// Type is 反馈类型.
type Type string

// Feedback types.
const (
	TypeComplaint  Type = "complaint"
	TypeSuggestion Type = "suggestion"
	TypePraise     Type = "praise"
	TypeInquiry    Type = "inquiry"
)

// Types lists every valid type.
var Types = []Type{TypeComplaint, TypeSuggestion, TypePraise, TypeInquiry}

func (t Type) valid() bool { return slices.Contains(Types, t) }

// Channel is 反馈渠道.
type Channel string

// Feedback channels.
const (
	ChannelPhone         Channel = "phone"
	ChannelEmail         Channel = "email"
	ChannelSurvey        Channel = "survey"
	ChannelOnlineService Channel = "online_service"
	ChannelVisit         Channel = "visit"
)

// Channels lists every valid channel.
var Channels = []Channel{ChannelPhone, ChannelEmail, ChannelSurvey, ChannelOnlineService, ChannelVisit}

func (c Channel) valid() bool { return slices.Contains(Channels, c) }

// DefaultComplaintSLA is how long a complaint may stay pending before it is overdue, unless
// configured otherwise (FEEDBACK_COMPLAINT_SLA).
const DefaultComplaintSLA = 24 * time.Hour

// Feedback is one piece of customer feedback or one complaint.
type Feedback struct {
	ID         string
	CustomerID string
	Type       Type
	Content    string
	Channel    Channel
	Status     Status
	// StatusReason is the reason given with the last status change.
	StatusReason string
	HandlerID    string
	Plan         string
	Result       string
	// Satisfaction is 1–5, 0 when not rated.
	Satisfaction int

	// ResponseDeadline is set for complaints only: created + the complaint SLA.
	ResponseDeadline *time.Time
	// FirstResponseAt is when the feedback first left pending.
	FirstResponseAt *time.Time
	ResolvedAt      *time.Time
	ClosedAt        *time.Time

	// OwnerID and TeamID are the customer's, read from the customer projection; not stored with
	// the feedback, so an ownership change applies at once.
	OwnerID string
	TeamID  string

	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	UpdatedBy    string
	DeletedAt    *time.Time
	DeletedBy    string
	DeleteReason string
	// Version counts the changes of the record; it is the etag.
	Version int64
}

// New returns new pending feedback recorded at now, with the response deadline of a complaint
// set from sla. It does not validate: call Normalise and Validate.
func New(customerID string, t Type, content string, ch Channel, now time.Time, sla time.Duration) *Feedback {
	f := &Feedback{CustomerID: customerID, Type: t, Content: content, Channel: ch, Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	f.applySLA(sla)
	return f
}

// applySLA sets the response deadline from the type: created + sla for complaints, none otherwise.
func (f *Feedback) applySLA(sla time.Duration) {
	f.ResponseDeadline = nil
	if f.Type == TypeComplaint {
		d := f.CreatedAt.Add(sla)
		f.ResponseDeadline = &d
	}
}

// Deleted reports whether the feedback is soft-deleted.
func (f *Feedback) Deleted() bool { return f.DeletedAt != nil }

// Errors the store and the domain return; the server maps them to API errors.
var (
	ErrNotFound    = errors.New("feedback not found")
	ErrStaleEtag   = errors.New("feedback was changed by someone else")
	ErrClosed      = errors.New("feedback is closed")
	ErrRequestUsed = errors.New("request id was used for a different request")
)
