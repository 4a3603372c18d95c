package server

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/validate"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
)

var typeToProto = map[feedback.Type]feedbackv1.FeedbackType{
	feedback.TypeComplaint: feedbackv1.FeedbackType_FEEDBACK_TYPE_COMPLAINT, feedback.TypeSuggestion: feedbackv1.FeedbackType_FEEDBACK_TYPE_SUGGESTION,
	feedback.TypePraise: feedbackv1.FeedbackType_FEEDBACK_TYPE_PRAISE, feedback.TypeInquiry: feedbackv1.FeedbackType_FEEDBACK_TYPE_INQUIRY,
}

var channelToProto = map[feedback.Channel]feedbackv1.FeedbackChannel{
	feedback.ChannelPhone: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_PHONE, feedback.ChannelEmail: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_EMAIL,
	feedback.ChannelSurvey: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_SURVEY, feedback.ChannelOnlineService: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_ONLINE_SERVICE,
	feedback.ChannelVisit: feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_VISIT,
}

var statusToProto = map[feedback.Status]feedbackv1.FeedbackStatus{
	feedback.StatusPending: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_PENDING, feedback.StatusInProgress: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS,
	feedback.StatusResolved: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, feedback.StatusClosed: feedbackv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED,
}

var slaToProto = map[feedback.SLAState]feedbackv1.SlaStatus{
	feedback.SLANone: feedbackv1.SlaStatus_SLA_STATUS_UNSPECIFIED, feedback.SLAOnTrack: feedbackv1.SlaStatus_SLA_STATUS_ON_TRACK,
	feedback.SLAMet: feedbackv1.SlaStatus_SLA_STATUS_MET, feedback.SLAOverdue: feedbackv1.SlaStatus_SLA_STATUS_OVERDUE,
	feedback.SLABreached: feedbackv1.SlaStatus_SLA_STATUS_BREACHED,
}

func invert[K comparable, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	typeFromProto    = invert(typeToProto)
	channelFromProto = invert(channelToProto)
	statusFromProto  = invert(statusToProto)
)

// toProto renders feedback for the API, with its SLA judged at now.
func toProto(f *feedback.Feedback, now time.Time) *feedbackv1.Feedback {
	return &feedbackv1.Feedback{
		FeedbackId: f.ID, CustomerId: f.CustomerID, Type: typeToProto[f.Type], Content: f.Content,
		Channel: channelToProto[f.Channel], Status: statusToProto[f.Status], StatusReason: f.StatusReason,
		HandlerId: f.HandlerID, Plan: f.Plan, Result: f.Result, Satisfaction: int32(f.Satisfaction),
		ResponseDeadline: tsp(f.ResponseDeadline), FirstResponseTime: tsp(f.FirstResponseAt),
		ResolveTime: tsp(f.ResolvedAt), CloseTime: tsp(f.ClosedAt),
		Overdue: f.Overdue(now), SlaStatus: slaToProto[f.SLA(now)],
		OwnerId: f.OwnerID, TeamId: f.TeamID,
		CreateTime: ts(f.CreatedAt), CreatedBy: f.CreatedBy, UpdateTime: ts(f.UpdatedAt), UpdatedBy: f.UpdatedBy,
		DeleteTime: tsp(f.DeletedAt), DeletedBy: f.DeletedBy, DeleteReason: f.DeleteReason, Etag: etag(f.Version),
	}
}

// EventData renders feedback as the data of its change events: the API's Feedback as of the change.
func EventData(f *feedback.Feedback, now time.Time) proto.Message { return toProto(f, now) }

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return ts(*t)
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
		return 0, violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "etag 无效，请使用读取反馈时返回的值", EN: "invalid etag: send the value returned when the feedback was read"})
	}
	return v, nil
}

func violation(field, reason string, msg validate.Message) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: reason, Message: msg}}}
}

// fromProto converts the writable fields of API input, collecting enum values out of range per field.
func fromProto(p *feedbackv1.Feedback, v *validate.Collector) *feedback.Feedback {
	f := &feedback.Feedback{Content: p.GetContent(), Plan: p.GetPlan(), Result: p.GetResult(), Satisfaction: int(p.GetSatisfaction())}
	unknown := validate.Message{ZH: "取值无效", EN: "unknown value"}
	if p.GetType() != feedbackv1.FeedbackType_FEEDBACK_TYPE_UNSPECIFIED {
		if f.Type = typeFromProto[p.GetType()]; f.Type == "" {
			v.Add("type", validate.ReasonUnknownCode, unknown)
		}
	}
	if p.GetChannel() != feedbackv1.FeedbackChannel_FEEDBACK_CHANNEL_UNSPECIFIED {
		if f.Channel = channelFromProto[p.GetChannel()]; f.Channel == "" {
			v.Add("channel", validate.ReasonUnknownCode, unknown)
		}
	}
	return f
}
