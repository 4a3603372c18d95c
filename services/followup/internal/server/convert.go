package server

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/validate"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
)

var methodToProto = map[followup.Method]followupv1.ContactMethod{
	followup.MethodPhone: followupv1.ContactMethod_CONTACT_METHOD_PHONE, followup.MethodEmail: followupv1.ContactMethod_CONTACT_METHOD_EMAIL,
	followup.MethodVisit: followupv1.ContactMethod_CONTACT_METHOD_VISIT, followup.MethodWeChat: followupv1.ContactMethod_CONTACT_METHOD_WECHAT,
	followup.MethodMeeting: followupv1.ContactMethod_CONTACT_METHOD_MEETING, followup.MethodOther: followupv1.ContactMethod_CONTACT_METHOD_OTHER,
}

var kindToProto = map[followup.Kind]followupv1.FollowUpKind{
	followup.KindInitial: followupv1.FollowUpKind_FOLLOW_UP_KIND_INITIAL, followup.KindNeedFollowUp: followupv1.FollowUpKind_FOLLOW_UP_KIND_NEED_FOLLOWUP,
	followup.KindContract: followupv1.FollowUpKind_FOLLOW_UP_KIND_CONTRACT, followup.KindAfterSales: followupv1.FollowUpKind_FOLLOW_UP_KIND_AFTER_SALES,
	followup.KindOther: followupv1.FollowUpKind_FOLLOW_UP_KIND_OTHER,
}

func invert[K comparable, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	methodFromProto = invert(methodToProto)
	kindFromProto   = invert(kindToProto)
)

// toProto renders a record for the API.
func toProto(f *followup.FollowUp) *followupv1.FollowUp {
	p := &followupv1.FollowUp{
		FollowupId: f.ID, CustomerId: f.CustomerID, ContactName: f.ContactName, Method: methodToProto[f.Method],
		ContactTime: ts(f.ContactTime), Kind: kindToProto[f.Kind], Content: f.Content, NextAction: f.NextAction,
		OwnerId: f.OwnerID, TeamId: f.TeamID, Done: f.Done, DoneBy: f.DoneBy, CompetitorNotes: f.CompetitorNotes,
		CreateTime: ts(f.CreatedAt), CreatedBy: f.CreatedBy, UpdateTime: ts(f.UpdatedAt), UpdatedBy: f.UpdatedBy,
		DeletedBy: f.DeletedBy, Etag: etag(f.Version),
	}
	if d := f.NextActionDue; d != nil {
		p.NextActionDueDate = &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
	}
	if f.DoneAt != nil {
		p.DoneTime = ts(*f.DoneAt)
	}
	if f.DeletedAt != nil {
		p.DeleteTime = ts(*f.DeletedAt)
	}
	return p
}

// EventData renders a record as the data of its change events: the API's FollowUp message.
func EventData(f *followup.FollowUp) proto.Message { return toProto(f) }

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func etag(version int64) string { return strconv.FormatInt(version, 10) }

// parseEtag accepts the etag as returned, optionally quoted or weak (`W/"3"`); empty means none.
func parseEtag(field, s string) (int64, error) {
	s = strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "etag 无效，请使用读取联系记录时返回的值", EN: "invalid etag: send the value returned when the follow-up was read"})
	}
	return v, nil
}

func violation(field, reason string, msg validate.Message) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: reason, Message: msg}}}
}

// fromProto converts API input into a record, collecting conversion errors (enum values out of
// range, invalid timestamps) per field. Output-only fields are ignored.
func fromProto(p *followupv1.FollowUp, v *validate.Collector) *followup.FollowUp {
	f := &followup.FollowUp{
		ContactName: p.GetContactName(), Content: p.GetContent(), NextAction: p.GetNextAction(),
		OwnerID: p.GetOwnerId(), CompetitorNotes: p.GetCompetitorNotes(),
	}
	unknown := validate.Message{ZH: "取值无效", EN: "unknown value"}
	if p.GetMethod() != followupv1.ContactMethod_CONTACT_METHOD_UNSPECIFIED {
		if f.Method = methodFromProto[p.GetMethod()]; f.Method == "" {
			v.Add("method", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetKind() != followupv1.FollowUpKind_FOLLOW_UP_KIND_UNSPECIFIED {
		if f.Kind = kindFromProto[p.GetKind()]; f.Kind == "" {
			v.Add("kind", validate.ReasonUnknownCode, unknown)
		}
	}
	if t := p.GetContactTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			v.Add("contact_time", validate.ReasonInvalidFormat, validate.Message{ZH: "联系时间无效", EN: "invalid contact time"})
		} else {
			f.ContactTime = t.AsTime()
		}
	}
	// An all-zero date is how some clients spell "no date".
	if d := p.GetNextActionDueDate(); d != nil && (d.GetYear() != 0 || d.GetMonth() != 0 || d.GetDay() != 0) {
		f.NextActionDue = &followup.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}
	}
	return f
}
