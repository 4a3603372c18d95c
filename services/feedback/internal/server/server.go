// Package server implements the FeedbackService gRPC API: it authorises each call, checks the
// customer through the customer projection, maps the API's messages to the feedback domain and
// back, calls the store and maps errors to API errors.
//
// It holds no business rules of its own (those live in internal/feedback) and no SQL (internal/store).
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/validate"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

// Domain is the error domain of this service (google.rpc.ErrorInfo.domain).
const Domain = "feedback.crm"

const method = "/crm.feedback.v1.FeedbackService/"

var (
	// readers see feedback: sales reps of their own customers, managers of their team's, the
	// others of every customer. Other services read with a system token.
	readers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll,
		authn.RoleSystem: authz.ScopeAll}
	// writers record and edit feedback; service agents (客服) for any customer.
	writers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll}
	// handlers assign and process feedback: customer service handles complaints, managers their
	// team's; sales reps record and edit but do not move the status.
	handlers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleService: authz.ScopeAll}
)

// Policy says which role may call which RPC, and over which customers' feedback (SPEC §9).
// Anything not listed is denied.
var Policy = authz.Policy{
	method + "CreateFeedback":       writers,
	method + "ExportFeedback":       export.Exporters,
	method + "GetFeedback":          readers,
	method + "ListFeedback":         readers,
	method + "ListCustomerFeedback": readers,
	method + "ListOverdueFeedback":  readers,
	method + "UpdateFeedback":       writers,
	method + "AssignFeedback":       handlers,
	method + "ChangeFeedbackStatus": handlers,
	method + "DeleteFeedback":       {authn.RoleAdmin: authz.ScopeAll},
}

// Server implements feedbackv1.FeedbackServiceServer.
type Server struct {
	feedbackv1.UnimplementedFeedbackServiceServer
	store     *store.Store
	customers *customerref.Projection
	// exporter runs ExportFeedback.
	exporter *export.Exporter
	// sla is how long a complaint may stay pending (FEEDBACK_COMPLAINT_SLA).
	sla time.Duration
}

// New returns a server. customers answers who owns a customer and whether it is live;
// complaintSLA is the response time allowed for complaints (feedback.DefaultComplaintSLA when not
// positive).
func New(st *store.Store, customers *customerref.Projection, exporter *export.Exporter, complaintSLA time.Duration) *Server {
	if complaintSLA <= 0 {
		complaintSLA = feedback.DefaultComplaintSLA
	}
	return &Server{store: st, customers: customers, exporter: exporter, sla: complaintSLA}
}

// caller returns the principal, its scope and how far it reaches for this RPC.
func caller(ctx context.Context) (authn.Principal, authz.Scope, store.Reach) {
	p, _ := authn.FromContext(ctx)
	switch s := authz.ScopeFromContext(ctx); s {
	case authz.ScopeAll:
		return p, s, store.Reach{}
	case authz.ScopeTeam:
		return p, s, store.Reach{TeamID: p.Team}
	default:
		// ScopeOwn, and anything unexpected, reaches only the caller's own customers.
		return p, authz.ScopeOwn, store.Reach{OwnerID: p.UserID}
	}
}

func actorOf(p authn.Principal) store.Actor {
	return store.Actor{UserID: p.UserID, Role: string(p.MainRole()), TeamID: p.Team}
}

// render converts feedback for the API, judging its SLA now.
func (s *Server) render(f *feedback.Feedback) *feedbackv1.Feedback { return toProto(f, s.store.Now()) }

// CreateFeedback records feedback of a customer.
func (s *Server) CreateFeedback(ctx context.Context, req *feedbackv1.CreateFeedbackRequest) (*feedbackv1.Feedback, error) {
	p, scope, _ := caller(ctx)
	customerID, err := customerIDOf("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	var v validate.Collector
	if req.GetFeedback() == nil {
		v.Add("feedback", validate.ReasonRequired, validate.RequiredMessage("反馈信息", "feedback"))
		return nil, v.Err()
	}
	if validate.RuneLen(req.GetRequestId()) > 64 {
		v.Add("request_id", validate.ReasonTooLong, validate.TooLongMessage("request_id", "request_id", 64))
	}
	if body := strings.ToUpper(strings.TrimSpace(req.GetFeedback().GetCustomerId())); body != "" && body != customerID {
		v.Add("customer_id", validate.ReasonNotAllowed, validate.Message{
			ZH: "反馈中的客户编号与路径中的不一致", EN: "the feedback's customer_id differs from the one in the path"})
	}
	in := fromProto(req.GetFeedback(), &v)
	f := feedback.New(customerID, in.Type, in.Content, in.Channel, s.store.Now(), s.sla)
	f.Plan, f.Result, f.Satisfaction = in.Plan, in.Result, in.Satisfaction
	f.Normalise()
	merge(&v, f.Validate())
	if err := v.Err(); err != nil {
		return nil, err
	}
	ref, err := s.liveCustomer(ctx, p, scope, customerID)
	if err != nil {
		return nil, err
	}
	f.OwnerID, f.TeamID = ref.OwnerID, ref.TeamID
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.Create(ctx, f, store.CreateInput{RequestID: req.GetRequestId(), RequestHash: hash}, actorOf(p))
	if err != nil {
		return nil, mapError(err, "")
	}
	return s.render(out), nil
}

// liveCustomer returns the customer's reference if the caller may see the customer and records
// may still be attached to it.
func (s *Server) liveCustomer(ctx context.Context, p authn.Principal, scope authz.Scope, id string) (customerref.Ref, error) {
	ref, err := s.visibleCustomer(ctx, p, scope, id)
	if err != nil {
		return ref, err
	}
	switch {
	case ref.MergedInto != "":
		return ref, apierr.New(codes.FailedPrecondition, "CUSTOMER_MERGED", validate.Message{
			ZH: "客户 " + id + " 已合并到 " + ref.MergedInto + "，请在合并后的客户下记录",
			EN: "customer " + id + " was merged into " + ref.MergedInto + "; record it there"}).
			With("customer_id", id).With("merged_into", ref.MergedInto)
	case ref.Deleted:
		return ref, apierr.New(codes.FailedPrecondition, "CUSTOMER_DELETED", validate.Message{
			ZH: "客户 " + id + " 已删除，不能再记录反馈", EN: "customer " + id + " is deleted; no feedback can be recorded"}).
			With("customer_id", id)
	}
	return ref, nil
}

// visibleCustomer returns the customer's reference, NOT_FOUND when the customer does not exist or
// the caller may not see it (its existence stays secret).
func (s *Server) visibleCustomer(ctx context.Context, p authn.Principal, scope authz.Scope, id string) (customerref.Ref, error) {
	notFound := apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", validate.Message{
		ZH: "客户 " + id + " 不存在或无权查看", EN: "customer " + id + " not found"}).With("customer_id", id)
	ref, err := s.customers.Get(ctx, id)
	switch {
	case errors.Is(err, customerref.ErrNotFound):
		return ref, notFound
	case err != nil:
		if ctx.Err() != nil {
			return ref, ctx.Err()
		}
		return ref, apierr.New(codes.Unavailable, "CUSTOMER_SERVICE_UNAVAILABLE", validate.Message{
			ZH: "客户服务暂不可用，请稍后重试", EN: "the customer service is unavailable; try again later"})
	case !ref.Visible(p, scope):
		return ref, notFound
	}
	return ref, nil
}

// requestHash fingerprints a create request so a reused request id with other content is refused.
func requestHash(req *feedbackv1.CreateFeedbackRequest) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

var feedbackIDPattern = regexp.MustCompile(`^S\d{11,}$`)

// feedbackIDOf checks and normalises a feedback id from a request.
func feedbackIDOf(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	switch {
	case id == "":
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("反馈编号", "Feedback id"))
	case len(id) > 40 || !feedbackIDPattern.MatchString(id):
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "反馈编号格式应为 SYYYYMMDDNNN", EN: "feedback id must look like SYYYYMMDDNNN"})
	}
	return id, nil
}

// customerIDOf checks and normalises a customer id from a request.
func customerIDOf(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	switch {
	case id == "":
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("客户编号", "Customer id"))
	case !strings.HasPrefix(id, "CUST-") || len(id) > 40:
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "客户编号格式应为 CUST-YYYYMMDD-NNNN", EN: "customer id must look like CUST-YYYYMMDD-NNNN"})
	}
	return id, nil
}

// GetFeedback returns one feedback record.
func (s *Server) GetFeedback(ctx context.Context, req *feedbackv1.GetFeedbackRequest) (*feedbackv1.Feedback, error) {
	p, _, reach := caller(ctx)
	id, err := feedbackIDOf("feedback_id", req.GetFeedbackId())
	if err != nil {
		return nil, err
	}
	// Admins also see deleted feedback (it is theirs to delete); for everyone else it is gone.
	f, err := s.store.Get(ctx, id, reach, p.Has(authn.RoleAdmin))
	if err != nil {
		return nil, mapError(err, id)
	}
	return s.render(f), nil
}

// UpdateFeedback changes the fields in the update mask.
func (s *Server) UpdateFeedback(ctx context.Context, req *feedbackv1.UpdateFeedbackRequest) (*feedbackv1.Feedback, error) {
	p, _, reach := caller(ctx)
	id, err := feedbackIDOf("feedback.feedback_id", req.GetFeedback().GetFeedbackId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("feedback.etag", req.GetFeedback().GetEtag())
	if err != nil {
		return nil, err
	}
	var v validate.Collector
	patch := fromProto(req.GetFeedback(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	if len(paths) == 1 && paths[0] == "*" {
		return nil, violation("update_mask", validate.ReasonNotAllowed, validate.Message{ZH: "不支持 * ，请逐一列出要修改的字段", EN: "`*` is not accepted: list the fields to change"})
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "updated",
		Apply: func(f *feedback.Feedback, _ time.Time) error {
			if err := f.ApplyMask(patch, paths, s.sla); err != nil {
				return err
			}
			f.Normalise()
			return f.Validate()
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return s.render(out), nil
}

// AssignFeedback sets the handler.
func (s *Server) AssignFeedback(ctx context.Context, req *feedbackv1.AssignFeedbackRequest) (*feedbackv1.Feedback, error) {
	p, _, reach := caller(ctx)
	id, err := feedbackIDOf("feedback_id", req.GetFeedbackId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	// Checked before loading, so a bad request is refused the same way for every record.
	if err := (&feedback.Feedback{}).Assign(req.GetHandlerId()); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "assigned",
		Apply: func(f *feedback.Feedback, _ time.Time) error { return f.Assign(req.GetHandlerId()) }}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return s.render(out), nil
}

// ChangeFeedbackStatus moves feedback along its status.
func (s *Server) ChangeFeedbackStatus(ctx context.Context, req *feedbackv1.ChangeFeedbackStatusRequest) (*feedbackv1.Feedback, error) {
	p, _, reach := caller(ctx)
	id, err := feedbackIDOf("feedback_id", req.GetFeedbackId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	var v validate.Collector
	to := statusFromProto[req.GetStatus()]
	if to == "" {
		v.Add("status", validate.ReasonRequired, validate.RequiredMessage("目标状态", "Status"))
	}
	merge(&v, feedback.ValidateReason("reason", req.GetReason(), false))
	if err := v.Err(); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "status_changed",
		Apply: func(f *feedback.Feedback, now time.Time) error {
			// Plan and result may come with the change, so that one call resolves the feedback.
			if strings.TrimSpace(req.GetPlan()) != "" {
				f.Plan = req.GetPlan()
			}
			if strings.TrimSpace(req.GetResult()) != "" {
				f.Result = req.GetResult()
			}
			f.Normalise()
			if err := f.ChangeStatus(to, req.GetReason(), p.UserID, now); err != nil {
				return err
			}
			return f.Validate()
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return s.render(out), nil
}

// DeleteFeedback soft-deletes feedback with a reason.
func (s *Server) DeleteFeedback(ctx context.Context, req *feedbackv1.DeleteFeedbackRequest) (*feedbackv1.Feedback, error) {
	p, _, reach := caller(ctx)
	id, err := feedbackIDOf("feedback_id", req.GetFeedbackId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	if err := feedback.ValidateReason("reason", reason, true); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "deleted",
		Apply: func(f *feedback.Feedback, now time.Time) error {
			f.DeletedAt, f.DeletedBy, f.DeleteReason = &now, p.UserID, reason
			return nil
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return s.render(out), nil
}

// mapError turns domain and store errors into API errors; anything else passes through to the
// apierr interceptor (validation errors, or unknown errors that become INTERNAL).
func mapError(err error, id string) error {
	var tr *feedback.TransitionError
	switch {
	case errors.Is(err, feedback.ErrNotFound):
		return apierr.New(codes.NotFound, "FEEDBACK_NOT_FOUND", validate.Message{
			ZH: "反馈 " + id + " 不存在或无权查看", EN: "feedback " + id + " not found"}).With("feedback_id", id)
	case errors.Is(err, feedback.ErrStaleEtag):
		return apierr.New(codes.Aborted, "ETAG_MISMATCH", validate.Message{
			ZH: "反馈已被他人修改，请刷新后重试", EN: "the feedback was changed by someone else; reload it and try again"}).With("feedback_id", id)
	case errors.Is(err, feedback.ErrClosed):
		return apierr.New(codes.FailedPrecondition, "FEEDBACK_CLOSED", validate.Message{
			ZH: "反馈已关闭，只能补充满意度评价", EN: "the feedback is closed; only the satisfaction can still be recorded"}).With("feedback_id", id)
	case errors.Is(err, feedback.ErrRequestUsed):
		return violation("request_id", "REQUEST_ID_REUSED", validate.Message{
			ZH: "request_id 已用于另一个不同的请求", EN: "request_id was already used for a different request"})
	case errors.As(err, &tr):
		allowed := make([]string, len(tr.Allowed))
		for i, a := range tr.Allowed {
			allowed[i] = string(a)
		}
		return apierr.New(codes.FailedPrecondition, "ILLEGAL_STATUS_TRANSITION", validate.Message{
			ZH: "反馈状态不能从 " + statusZH[tr.From] + " 变更为 " + statusZH[tr.To],
			EN: "feedback status cannot change from " + string(tr.From) + " to " + string(tr.To)}).
			With("feedback_id", id).With("from", string(tr.From)).With("to", string(tr.To)).With("allowed", strings.Join(allowed, ","))
	}
	return err
}

// statusZH names the statuses in Chinese for messages.
var statusZH = map[feedback.Status]string{
	feedback.StatusPending: "待处理", feedback.StatusInProgress: "处理中", feedback.StatusResolved: "已完成", feedback.StatusClosed: "已关闭",
}

// merge adds the violations of a validation error to v.
func merge(v *validate.Collector, err error) {
	var ve *validate.Error
	if errors.As(err, &ve) {
		for _, x := range ve.Violations {
			v.Add(x.Field, x.Reason, x.Message)
		}
	}
}
