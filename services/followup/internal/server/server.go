// Package server implements the FollowUpService gRPC API: it authorises each call, checks the
// customer through the customer projection, maps the API's messages to the follow-up domain and
// back, calls the store and maps errors to API errors.
//
// It holds no business rules of its own (those live in internal/followup) and no SQL (internal/store).
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
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
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

// Domain is the error domain of this service (google.rpc.ErrorInfo.domain).
const Domain = "followup.crm"

const method = "/crm.followup.v1.FollowUpService/"

var (
	// readers may read records: everyone within their reach; the system role for other services.
	readers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll,
		authn.RoleSystem: authz.ScopeAll}
	// writers create, edit and complete records; service agents do so for any customer (SPEC §9).
	writers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll}
)

// Policy says which role may call which RPC, and over which customers' records (SPEC §9). Anything
// not listed is denied.
var Policy = authz.Policy{
	method + "CreateFollowUp":     writers,
	method + "GetFollowUp":        readers,
	method + "ListFollowUps":      readers,
	method + "ListOwnerFollowUps": readers,
	method + "UpdateFollowUp":     writers,
	method + "CompleteFollowUp":   writers,
	// Service agents keep records but do not remove them; a sales rep only its own (checked in the handler).
	method + "DeleteFollowUp":     {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn},
	method + "ListDueActions":     readers,
	method + "ListOverdueActions": readers,
	method + "ExportFollowUps":    export.Exporters,
}

// Server implements followupv1.FollowUpServiceServer.
type Server struct {
	followupv1.UnimplementedFollowUpServiceServer
	store     *store.Store
	customers *customerref.Projection
	exporter  *export.Exporter
	log       *slog.Logger
	now       func() time.Time
}

// New returns a server. customers answers which customers exist, who owns them and whether they
// are deleted; exporter runs ExportFollowUps.
func New(st *store.Store, customers *customerref.Projection, exporter *export.Exporter, log *slog.Logger) *Server {
	return &Server{store: st, customers: customers, exporter: exporter, log: log, now: time.Now}
}

// SetClock replaces time.Now, which decides "today" for due and overdue next actions and the
// future limit of contact times; for tests. Call it before serving.
func (s *Server) SetClock(now func() time.Time) { s.now = now }

// caller returns the principal, its scope for this RPC and the matching reach. Admins also reach
// the records of deleted customers.
func caller(ctx context.Context) (authn.Principal, authz.Scope, store.Reach) {
	p, _ := authn.FromContext(ctx)
	scope := authz.ScopeFromContext(ctx)
	switch scope {
	case authz.ScopeAll:
		return p, scope, store.Reach{DeletedCustomers: p.Has(authn.RoleAdmin)}
	case authz.ScopeTeam:
		return p, scope, store.Reach{TeamID: p.Team}
	default:
		// ScopeOwn, and anything unexpected, reaches only the caller's own customers.
		return p, authz.ScopeOwn, store.Reach{OwnerID: p.UserID}
	}
}

func actorOf(p authn.Principal) store.Actor {
	return store.Actor{UserID: p.UserID, Role: string(p.MainRole()), TeamID: p.Team}
}

// mayAssignOwner reports whether the caller may make someone else responsible for a record.
func mayAssignOwner(p authn.Principal) bool {
	return p.Has(authn.RoleAdmin) || p.Has(authn.RoleManager)
}

// seesPII reports whether the caller may see the contact's name unmasked: every role that works
// with customers does, and other services; executives see summaries only (SPEC §10).
func seesPII(p authn.Principal) bool {
	return p.Has(authn.RoleAdmin) || p.Has(authn.RoleManager) || p.Has(authn.RoleSales) || p.Has(authn.RoleService) || p.Has(authn.RoleSystem)
}

// render converts a record for this caller: the contact's name masked (张*) for roles without PII access.
func render(p authn.Principal, f *followup.FollowUp) *followupv1.FollowUp {
	out := toProto(f)
	if !seesPII(p) {
		out.ContactName = validate.MaskName(out.ContactName)
	}
	return out
}

// CreateFollowUp records a contact with a customer.
func (s *Server) CreateFollowUp(ctx context.Context, req *followupv1.CreateFollowUpRequest) (*followupv1.FollowUp, error) {
	p, scope, _ := caller(ctx)
	var v validate.Collector
	cid, err := customerID("customer_id", req.GetCustomerId())
	merge(&v, err)
	if req.GetFollowup() == nil {
		v.Add("followup", validate.ReasonRequired, validate.RequiredMessage("联系记录", "followup"))
		return nil, v.Err()
	}
	if validate.RuneLen(req.GetRequestId()) > 64 {
		v.Add("request_id", validate.ReasonTooLong, validate.TooLongMessage("request_id", "request_id", 64))
	}
	f := fromProto(req.GetFollowup(), &v)
	f.CustomerID = cid
	if strings.TrimSpace(f.OwnerID) == "" {
		f.OwnerID = p.UserID
	} else if strings.TrimSpace(f.OwnerID) != p.UserID && !mayAssignOwner(p) {
		v.Add("owner_id", validate.ReasonNotAllowed, validate.Message{
			ZH: "只有管理员和部门负责人可以指定其他负责人", EN: "only admins and managers may make someone else the owner"})
	}
	f.Normalise()
	merge(&v, f.Validate(s.now(), true))
	if err := v.Err(); err != nil {
		return nil, err
	}
	ref, err := s.customer(ctx, p, scope, cid)
	if err != nil {
		return nil, err
	}
	switch {
	case ref.MergedInto != "":
		return nil, apierr.New(codes.FailedPrecondition, "CUSTOMER_MERGED", validate.Message{
			ZH: "客户 " + cid + " 已合并到 " + ref.MergedInto + "，请在该客户下记录",
			EN: "customer " + cid + " was merged into " + ref.MergedInto + "; record the follow-up there"}).
			With("customer_id", cid).With("merged_into", ref.MergedInto)
	case ref.Deleted:
		return nil, customerDeleted(cid)
	}
	f.TeamID = ref.TeamID
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.Create(ctx, f, store.CreateInput{RequestID: req.GetRequestId(), RequestHash: hash}, actorOf(p))
	if err != nil {
		return nil, mapError(err, "")
	}
	return render(p, out), nil
}

// customer returns the customer's reference if the caller may see the customer; an unknown or
// invisible customer is NOT_FOUND, so that its existence stays secret.
func (s *Server) customer(ctx context.Context, p authn.Principal, scope authz.Scope, id string) (customerref.Ref, error) {
	ref, err := s.customers.Get(ctx, id)
	switch {
	case errors.Is(err, customerref.ErrNotFound):
		return customerref.Ref{}, customerNotFound(id)
	case err != nil:
		s.log.ErrorContext(ctx, "customer lookup failed", "customer_id", id, "error", err)
		return customerref.Ref{}, apierr.New(codes.Unavailable, "CUSTOMER_LOOKUP_FAILED", validate.Message{
			ZH: "暂时无法核实客户信息，请稍后重试", EN: "the customer cannot be checked right now; try again later"})
	case !ref.Visible(p, scope):
		return customerref.Ref{}, customerNotFound(id)
	}
	return ref, nil
}

func customerNotFound(id string) error {
	return apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", validate.Message{
		ZH: "客户 " + id + " 不存在或无权查看", EN: "customer " + id + " not found"}).With("customer_id", id)
}

func customerDeleted(id string) error {
	e := apierr.New(codes.FailedPrecondition, "CUSTOMER_DELETED", validate.Message{
		ZH: "客户已删除，不能再记录或修改联系记录", EN: "the customer is deleted; its follow-ups can no longer be recorded or changed"})
	if id != "" {
		e = e.With("customer_id", id)
	}
	return e
}

// requestHash fingerprints a create request so a reused request id with other content is refused.
func requestHash(req *followupv1.CreateFollowUpRequest) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// GetFollowUp returns one record.
func (s *Server) GetFollowUp(ctx context.Context, req *followupv1.GetFollowUpRequest) (*followupv1.FollowUp, error) {
	p, _, reach := caller(ctx)
	id, err := followupID("followup_id", req.GetFollowupId())
	if err != nil {
		return nil, err
	}
	f, err := s.store.Get(ctx, id, reach)
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(p, f), nil
}

// UpdateFollowUp changes the fields in the update mask.
func (s *Server) UpdateFollowUp(ctx context.Context, req *followupv1.UpdateFollowUpRequest) (*followupv1.FollowUp, error) {
	p, _, reach := caller(ctx)
	id, err := followupID("followup.followup_id", req.GetFollowup().GetFollowupId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("followup.etag", req.GetFollowup().GetEtag())
	if err != nil {
		return nil, err
	}
	var v validate.Collector
	patch := fromProto(req.GetFollowup(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	if len(paths) == 1 && paths[0] == "*" {
		return nil, violation("update_mask", validate.ReasonNotAllowed, validate.Message{ZH: "不支持 * ，请逐一列出要修改的字段", EN: "`*` is not accepted: list the fields to change"})
	}
	ownerAllowed := mayAssignOwner(p)
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "updated",
		Apply: func(f *followup.FollowUp, _ time.Time) error {
			if f.CustomerDeleted {
				return followup.ErrCustomerDeleted
			}
			if err := f.ApplyMask(patch, paths, ownerAllowed); err != nil {
				return err
			}
			f.Normalise()
			return f.Validate(s.now(), false)
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(p, out), nil
}

// CompleteFollowUp marks the record's next action done.
func (s *Server) CompleteFollowUp(ctx context.Context, req *followupv1.CompleteFollowUpRequest) (*followupv1.FollowUp, error) {
	p, _, reach := caller(ctx)
	id, err := followupID("followup_id", req.GetFollowupId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "completed",
		Apply: func(f *followup.FollowUp, now time.Time) error {
			if f.CustomerDeleted {
				return followup.ErrCustomerDeleted
			}
			return f.Complete(p.UserID, now)
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(p, out), nil
}

// DeleteFollowUp soft-deletes a record.
func (s *Server) DeleteFollowUp(ctx context.Context, req *followupv1.DeleteFollowUpRequest) (*followupv1.FollowUp, error) {
	p, scope, reach := caller(ctx)
	id, err := followupID("followup_id", req.GetFollowupId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "deleted",
		Apply: func(f *followup.FollowUp, now time.Time) error {
			// A sales rep sees every record of its customers but removes only its own.
			if scope == authz.ScopeOwn && f.OwnerID != p.UserID {
				return followup.ErrNotOwner
			}
			f.DeletedAt, f.DeletedBy = &now, p.UserID
			return nil
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(p, out), nil
}

// customerID checks and normalises a customer id from a request.
func customerID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("客户编号", "Customer id"))
	}
	if !strings.HasPrefix(id, "CUST-") || len(id) > 40 {
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "客户编号格式应为 CUST-YYYYMMDD-NNNN", EN: "customer id must look like CUST-YYYYMMDD-NNNN"})
	}
	return id, nil
}

// followupID checks and normalises a record id (FYYYYMMDDNNN, the serial widening past 999).
func followupID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("记录编号", "Follow-up id"))
	}
	ok := len(id) >= 12 && len(id) <= 20 && id[0] == 'F'
	for _, c := range id[1:] {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "记录编号格式应为 FYYYYMMDDNNN", EN: "follow-up id must look like FYYYYMMDDNNN"})
	}
	return id, nil
}

// mapError turns domain and store errors into API errors; anything else passes through to the
// apierr interceptor (validation errors, or unknown errors that become INTERNAL).
func mapError(err error, id string) error {
	with := func(e *apierr.Error) *apierr.Error {
		if id != "" {
			return e.With("followup_id", id)
		}
		return e
	}
	switch {
	case errors.Is(err, followup.ErrNotFound):
		return with(apierr.New(codes.NotFound, "FOLLOWUP_NOT_FOUND", validate.Message{
			ZH: "联系记录 " + id + " 不存在或无权查看", EN: "follow-up " + id + " not found"}))
	case errors.Is(err, followup.ErrStaleEtag):
		return with(apierr.New(codes.Aborted, "ETAG_MISMATCH", validate.Message{
			ZH: "联系记录已被他人修改，请刷新后重试", EN: "the follow-up was changed by someone else; reload it and try again"}))
	case errors.Is(err, followup.ErrRequestUsed):
		return violation("request_id", "REQUEST_ID_REUSED", validate.Message{
			ZH: "request_id 已用于另一个不同的请求", EN: "request_id was already used for a different request"})
	case errors.Is(err, followup.ErrAlreadyDone):
		return with(apierr.New(codes.FailedPrecondition, "ALREADY_DONE", validate.Message{
			ZH: "后续行动已完成", EN: "the next action is already done"}))
	case errors.Is(err, followup.ErrNoNextAction):
		return with(apierr.New(codes.FailedPrecondition, "NO_NEXT_ACTION", validate.Message{
			ZH: "该联系记录没有后续行动", EN: "the follow-up has no next action"}))
	case errors.Is(err, followup.ErrCustomerDeleted):
		return customerDeleted("")
	case errors.Is(err, followup.ErrNotOwner):
		return with(apierr.New(codes.PermissionDenied, "NOT_FOLLOWUP_OWNER", validate.Message{
			ZH: "只能删除自己负责的联系记录", EN: "you can only delete follow-ups you own"}))
	}
	return err
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
