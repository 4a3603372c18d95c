// Package server implements the CustomerService gRPC API: it authorises each call, maps the API's
// messages to the customer domain and back, calls the store and maps errors to API errors.
//
// It holds no business rules of its own (those live in internal/customer) and no SQL (internal/store).
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
	"github.com/crmsuite/crm/pkg/validate"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// Domain is the error domain of this service (google.rpc.ErrorInfo.domain).
const Domain = "customer.crm"

const method = "/crm.customer.v1.CustomerService/"

var (
	readers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll}
	adminsOnly = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll}
)

// Policy says which role may call which RPC, and over which customers (SPEC §9). Anything not
// listed is denied.
var Policy = authz.Policy{
	method + "CreateCustomer": {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn},
	// Other services look up customers they have not heard of yet with a system token.
	method + "GetCustomer": {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn,
		authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll, authn.RoleSystem: authz.ScopeAll},
	method + "ListCustomers":   readers,
	method + "SearchCustomers": readers,
	// Service agents correct contact details of any customer; key fields stay with admins.
	method + "UpdateCustomer": {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll},
	method + "ChangeCustomerStatus": {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn},
	method + "DeleteCustomer":       adminsOnly,
	method + "UndeleteCustomer":     adminsOnly,
	method + "ListCustomerHistory":  readers,
	method + "ListIndustries": {authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeAll, authn.RoleSales: authz.ScopeAll,
		authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll, authn.RoleSystem: authz.ScopeAll},

	// CustomerTransferService (transfer.go): imports, their jobs and exports.
	transferMethod + "ImportCustomers":         transferers,
	transferMethod + "GetImportJob":            transferers,
	transferMethod + "ListImportJobs":          transferers,
	transferMethod + "ListImportJobIssues":     transferers,
	transferMethod + "DownloadImportJobIssues": transferers,
	transferMethod + "UndoImportJob":           transferers,
	transferMethod + "ExportCustomers":         transferers,
	transferMethod + "StreamCustomerRefs":      transferers,
}

// Server implements customerv1.CustomerServiceServer.
type Server struct {
	customerv1.UnimplementedCustomerServiceServer
	store *store.Store
	audit auditv1.AuditServiceClient
	// systemToken returns a token with the `system` role for reading the audit log.
	systemToken func() (string, error)
	log         *slog.Logger
	now         func() time.Time
}

// New returns a server.
func New(st *store.Store, audit auditv1.AuditServiceClient, systemToken func() (string, error), log *slog.Logger) *Server {
	return &Server{store: st, audit: audit, systemToken: systemToken, log: log, now: time.Now}
}

// EventData renders a customer as the data of its change events.
func EventData(c *customer.Customer) proto.Message { return eventData(c) }

// caller returns the principal and how far it reaches for this RPC.
func caller(ctx context.Context) (authn.Principal, store.Reach) {
	p, _ := authn.FromContext(ctx)
	switch authz.ScopeFromContext(ctx) {
	case authz.ScopeAll:
		return p, store.Reach{}
	case authz.ScopeTeam:
		return p, store.Reach{TeamID: p.Team}
	default:
		// ScopeOwn, and anything unexpected, reaches only the caller's own customers.
		return p, store.Reach{OwnerID: p.UserID}
	}
}

func actorOf(p authn.Principal) store.Actor {
	return store.Actor{UserID: p.UserID, Role: string(p.MainRole()), TeamID: p.Team}
}

// seesPII reports whether the caller may see personal information unmasked: every role that works
// with customers does; executives see summaries only.
func seesPII(p authn.Principal) bool {
	return p.Has(authn.RoleAdmin) || p.Has(authn.RoleManager) || p.Has(authn.RoleSales) || p.Has(authn.RoleService)
}

// render converts a customer for this caller: masked for roles without PII access.
func render(ctx context.Context, p authn.Principal, c *customer.Customer) *customerv1.Customer {
	if !seesPII(p) {
		c = c.Masked()
	}
	return toProto(c, apierr.Lang(ctx))
}

// CreateCustomer creates a customer.
func (s *Server) CreateCustomer(ctx context.Context, req *customerv1.CreateCustomerRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	if req.GetCustomer() == nil {
		v.Add("customer", validate.ReasonRequired, validate.RequiredMessage("客户信息", "customer"))
		return nil, v.Err()
	}
	if validate.RuneLen(req.GetRequestId()) > 64 {
		v.Add("request_id", validate.ReasonTooLong, validate.TooLongMessage("request_id", "request_id", 64))
	}
	c := fromProto(req.GetCustomer(), &v)
	if c.Status == "" {
		c.Status = customer.StatusPotential
	}
	assignOwner(c, p, reach, &v)
	c.Normalise()
	merge(&v, c.Validate(s.now()))
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.Create(ctx, c, store.CreateInput{RequestID: req.GetRequestId(), RequestHash: hash,
		ConfirmNotDuplicate: req.GetConfirmNotDuplicate()}, actorOf(p))
	if err != nil {
		return nil, mapError(err, "")
	}
	return render(ctx, p, out), nil
}

// assignOwner sets the owner and team of a new customer: a sales rep owns what it creates, a
// manager assigns within its team, an admin anywhere. Defaults are the caller and its team.
func assignOwner(c *customer.Customer, p authn.Principal, reach store.Reach, v *validate.Collector) {
	if c.OwnerID == "" {
		c.OwnerID = p.UserID
	}
	switch {
	case reach.OwnerID != "":
		if c.OwnerID != p.UserID {
			v.Add("owner_id", validate.ReasonNotAllowed, validate.Message{ZH: "销售人员只能创建自己负责的客户", EN: "a sales rep can only create customers it owns"})
		}
		if c.TeamID != "" && c.TeamID != p.Team {
			v.Add("team_id", validate.ReasonNotAllowed, validate.Message{ZH: "只能在自己的团队中创建客户", EN: "customers can only be created in your own team"})
		}
		c.TeamID = p.Team
	case reach.TeamID != "":
		if c.TeamID != "" && c.TeamID != p.Team {
			v.Add("team_id", validate.ReasonNotAllowed, validate.Message{ZH: "部门负责人只能把客户分配给本团队", EN: "a manager can only assign customers within its team"})
		}
		c.TeamID = p.Team
	default:
		if c.TeamID == "" {
			c.TeamID = p.Team
		}
	}
}

// requestHash fingerprints a create request so a reused request id with other content is refused.
func requestHash(req *customerv1.CreateCustomerRequest) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// GetCustomer returns one customer.
func (s *Server) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	// Admins also see deleted customers (to restore them); for everyone else they are gone.
	c, err := s.store.Get(ctx, id, reach, p.Has(authn.RoleAdmin))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(ctx, p, c), nil
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

// UpdateCustomer changes the fields in the update mask.
func (s *Server) UpdateCustomer(ctx context.Context, req *customerv1.UpdateCustomerRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	id, err := customerID("customer.customer_id", req.GetCustomer().GetCustomerId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("customer.etag", req.GetCustomer().GetEtag())
	if err != nil {
		return nil, err
	}
	patch := fromProto(req.GetCustomer(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	if len(paths) == 1 && paths[0] == "*" {
		return nil, violation("update_mask", validate.ReasonNotAllowed, validate.Message{ZH: "不支持 * ，请逐一列出要修改的字段", EN: "`*` is not accepted: list the fields to change"})
	}
	// A service agent never changes key fields, so only admins get them.
	keyFields := p.Has(authn.RoleAdmin)
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: store.ActionUpdated,
		Apply: func(c *customer.Customer, now time.Time) error {
			if err := c.ApplyMask(patch, paths, keyFields); err != nil {
				return err
			}
			c.Normalise()
			return c.Validate(now)
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(ctx, p, out), nil
}

// ChangeCustomerStatus moves a customer along its lifecycle.
func (s *Server) ChangeCustomerStatus(ctx context.Context, req *customerv1.ChangeCustomerStatusRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	to := statusFromProto[req.GetStatus()]
	if to == "" {
		return nil, violation("status", validate.ReasonRequired, validate.RequiredMessage("目标状态", "Status"))
	}
	if err := customer.ValidateReason("reason", req.GetReason(), false); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: store.ActionStatusChanged,
		Apply: func(c *customer.Customer, now time.Time) error { return c.ChangeStatus(to, p.UserID, now) }}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(ctx, p, out), nil
}

// DeleteCustomer soft-deletes a customer with a reason.
func (s *Server) DeleteCustomer(ctx context.Context, req *customerv1.DeleteCustomerRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	if err := customer.ValidateReason("reason", reason, true); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: store.ActionDeleted,
		Apply: func(c *customer.Customer, now time.Time) error {
			c.DeletedAt, c.DeletedBy, c.DeleteReason = &now, p.UserID, reason
			return nil
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(ctx, p, out), nil
}

// UndeleteCustomer restores a soft-deleted customer.
func (s *Server) UndeleteCustomer(ctx context.Context, req *customerv1.UndeleteCustomerRequest) (*customerv1.Customer, error) {
	p, reach := caller(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Deleted: true, Action: store.ActionUndeleted,
		Apply: func(c *customer.Customer, _ time.Time) error {
			c.DeletedAt, c.DeletedBy, c.DeleteReason = nil, "", ""
			return nil
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return render(ctx, p, out), nil
}

// ListIndustries lists GB/T 4754-2017 codes.
func (s *Server) ListIndustries(_ context.Context, req *customerv1.ListIndustriesRequest) (*customerv1.ListIndustriesResponse, error) {
	section := strings.ToUpper(strings.TrimSpace(req.GetSection()))
	if section != "" {
		if ind, ok := validate.LookupIndustry(section); !ok || ind.Division {
			return nil, violation("section", validate.ReasonUnknownCode, validate.Message{ZH: "门类应为 A–T 之间的字母", EN: "section must be a letter from A to T"})
		}
	}
	resp := &customerv1.ListIndustriesResponse{}
	for _, ind := range validate.Industries() {
		if section == "" || ind.Section == section {
			resp.Industries = append(resp.Industries, industryToProto(ind))
		}
	}
	return resp, nil
}

// mapError turns domain and store errors into API errors; anything else passes through to the
// apierr interceptor (validation errors, or unknown errors that become INTERNAL).
func mapError(err error, id string) error {
	var dup *customer.DuplicateError
	var tr *customer.TransitionError
	switch {
	case errors.Is(err, customer.ErrNotFound):
		return apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", validate.Message{
			ZH: "客户 " + id + " 不存在或无权查看", EN: "customer " + id + " not found"}).With("customer_id", id)
	case errors.Is(err, customer.ErrStaleEtag):
		return apierr.New(codes.Aborted, "ETAG_MISMATCH", validate.Message{
			ZH: "客户信息已被他人修改，请刷新后重试", EN: "the customer was changed by someone else; reload it and try again"}).With("customer_id", id)
	case errors.Is(err, customer.ErrUSCCTaken):
		return apierr.New(codes.AlreadyExists, "DUPLICATE_USCC", validate.Message{
			ZH: "该统一社会信用代码已属于其他客户", EN: "this unified social credit code belongs to another customer"})
	case errors.Is(err, customer.ErrRequestUsed):
		return violation("request_id", "REQUEST_ID_REUSED", validate.Message{
			ZH: "request_id 已用于另一个不同的请求", EN: "request_id was already used for a different request"})
	case errors.As(err, &dup):
		details := &customerv1.DuplicateCandidates{}
		for _, c := range dup.Candidates {
			details.Candidates = append(details.Candidates, &customerv1.DuplicateCandidate{
				CustomerId: c.ID, Name: c.Name, OwnerId: c.OwnerID, MatchedFields: c.Matched})
		}
		if dup.ExactUSCC {
			e := apierr.New(codes.AlreadyExists, "DUPLICATE_USCC", validate.Message{
				ZH: "已存在相同统一社会信用代码的客户", EN: "a customer with this unified social credit code already exists"})
			if len(dup.Candidates) > 0 {
				e = e.With("existing_customer_id", dup.Candidates[0].ID)
			}
			return e.WithDetails(details)
		}
		return apierr.New(codes.AlreadyExists, "POSSIBLE_DUPLICATE", validate.Message{
			ZH: "可能与已有客户重复（名称、手机号或邮箱相同）；确认是新客户请设置 confirm_not_duplicate",
			EN: "this looks like an existing customer (same name, mobile or e-mail); set confirm_not_duplicate if it is a new one"}).
			WithDetails(details)
	case errors.As(err, &tr):
		allowed := make([]string, len(tr.Allowed))
		for i, a := range tr.Allowed {
			allowed[i] = string(a)
		}
		return apierr.New(codes.FailedPrecondition, "ILLEGAL_STATUS_TRANSITION", validate.Message{
			ZH: "客户状态不能从 " + string(tr.From) + " 变更为 " + string(tr.To),
			EN: "status cannot change from " + string(tr.From) + " to " + string(tr.To)}).
			With("from", string(tr.From)).With("to", string(tr.To)).With("allowed", strings.Join(allowed, ","))
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
