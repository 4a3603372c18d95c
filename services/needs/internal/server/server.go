// Package server implements the NeedService gRPC API: it authorises each call, checks the customer
// a need belongs to through the customer projection, maps the API's messages to the need domain and
// back, calls the store and maps errors to API errors.
//
// It holds no business rules of its own (those live in internal/need) and no SQL (internal/store).
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
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
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/validate"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

// Domain is the error domain of this service (google.rpc.ErrorInfo.domain).
const Domain = "needs.crm"

const method = "/crm.needs.v1.NeedService/"

var (
	// readers may read needs and the pipeline (SPEC §9: service agents and executives read only;
	// other services read with a system token).
	readers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll,
		authn.RoleSystem: authz.ScopeAll}
	// writers create, edit, move and delete needs: admins all, managers their team's customers',
	// sales reps their own customers'.
	writers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn}
)

// Policy says which role may call which RPC, and over which customers' needs. Anything not listed
// is denied.
var Policy = authz.Policy{
	method + "CreateNeed":           writers,
	method + "ExportNeeds":          export.Exporters,
	method + "GetNeed":              readers,
	method + "ListNeeds":            readers,
	method + "ListCustomerNeeds":    readers,
	method + "UpdateNeed":           writers,
	method + "ChangeNeedStage":      writers,
	method + "ReopenNeed":           writers,
	method + "ListNeedStageChanges": readers,
	method + "DeleteNeed":           writers,
	method + "GetPipeline":          readers,
}

// Server implements needsv1.NeedServiceServer.
type Server struct {
	needsv1.UnimplementedNeedServiceServer
	store *store.Store
	// customers tells who owns a customer, its team and whether it is live.
	customers *customerref.Projection
	exporter  *export.Exporter
	log       *slog.Logger
}

// New returns a server; exporter runs ExportNeeds.
func New(st *store.Store, customers *customerref.Projection, exporter *export.Exporter, log *slog.Logger) *Server {
	return &Server{store: st, customers: customers, exporter: exporter, log: log}
}

// EventData renders a need as the data of its change events.
func EventData(n *need.Need) proto.Message { return toProto(n) }

// caller returns the principal and how far it reaches for this RPC. Admins also reach the needs of
// deleted customers.
func caller(ctx context.Context) (authn.Principal, store.Reach) {
	p, _ := authn.FromContext(ctx)
	admin := p.Has(authn.RoleAdmin)
	switch authz.ScopeFromContext(ctx) {
	case authz.ScopeAll:
		return p, store.Reach{DeletedCustomers: admin}
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

// CreateNeed creates a need of a live customer the caller may see.
func (s *Server) CreateNeed(ctx context.Context, req *needsv1.CreateNeedRequest) (*needsv1.Need, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	custID, err := customerID("customer_id", req.GetCustomerId())
	merge(&v, err)
	if req.GetNeed() == nil {
		v.Add("need", validate.ReasonRequired, validate.RequiredMessage("需求信息", "need"))
		return nil, v.Err()
	}
	if validate.RuneLen(req.GetRequestId()) > 64 {
		v.Add("request_id", validate.ReasonTooLong, validate.TooLongMessage("request_id", "request_id", 64))
	}
	n := fromProto(req.GetNeed(), &v)
	switch {
	case n.Stage == "":
		n.Stage = need.StageInitial
	case !n.Stage.Open():
		v.Add("stage", validate.ReasonNotAllowed, validate.Message{
			ZH: "新建的商机须处于进行中的阶段（初步接洽至商务谈判）", EN: "a new need starts at an open stage (initial to negotiation)"})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	ref, err := s.liveCustomer(ctx, custID)
	if err != nil {
		return nil, err
	}
	n.CustomerID, n.TeamID = ref.CustomerID, ref.TeamID
	if n.OwnerID == "" {
		n.OwnerID = ref.OwnerID
	}
	if reach.OwnerID != "" && strings.TrimSpace(n.OwnerID) != p.UserID {
		v.Add("owner_id", validate.ReasonNotAllowed, validate.Message{
			ZH: "销售人员只能创建由自己负责的商机", EN: "a sales rep can only create needs it is responsible for"})
	}
	n.Normalise()
	merge(&v, n.Validate())
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.Create(ctx, n, store.CreateInput{RequestID: req.GetRequestId(), RequestHash: hash}, actorOf(p))
	if err != nil {
		return nil, mapError(err, "")
	}
	return toProto(out), nil
}

// liveCustomer returns the projection of a customer the caller may see and may attach needs to:
// NOT_FOUND when unknown or out of reach, FAILED_PRECONDITION CUSTOMER_DELETED when deleted or
// merged away.
func (s *Server) liveCustomer(ctx context.Context, id string) (customerref.Ref, error) {
	ref, err := s.visibleCustomer(ctx, id)
	if err != nil {
		return ref, err
	}
	if !ref.Live() {
		e := apierr.New(codes.FailedPrecondition, "CUSTOMER_DELETED", validate.Message{
			ZH: "客户 " + id + " 已删除或已合并，不能再添加需求", EN: "customer " + id + " is deleted or merged; needs cannot be added"}).
			With("customer_id", id)
		if ref.MergedInto != "" {
			e = e.With("merged_into", ref.MergedInto)
		}
		return ref, e
	}
	return ref, nil
}

// visibleCustomer returns the projection of a customer within the caller's reach.
func (s *Server) visibleCustomer(ctx context.Context, id string) (customerref.Ref, error) {
	p, _ := authn.FromContext(ctx)
	ref, err := s.customers.Get(ctx, id)
	switch {
	case errors.Is(err, customerref.ErrNotFound):
		return ref, customerNotFound(id)
	case err != nil:
		s.log.WarnContext(ctx, "customer lookup failed", "customer_id", id, "err", err)
		return ref, apierr.New(codes.Unavailable, "CUSTOMER_SERVICE_UNAVAILABLE", validate.Message{
			ZH: "暂时无法确认客户信息，请稍后重试", EN: "the customer cannot be checked right now; try again later"})
	case !ref.Visible(p, authz.ScopeFromContext(ctx)):
		return ref, customerNotFound(id)
	}
	return ref, nil
}

func customerNotFound(id string) error {
	return apierr.New(codes.NotFound, "CUSTOMER_NOT_FOUND", validate.Message{
		ZH: "客户 " + id + " 不存在或无权查看", EN: "customer " + id + " not found"}).With("customer_id", id)
}

// requestHash fingerprints a create request so a reused request id with other content is refused.
func requestHash(req *needsv1.CreateNeedRequest) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// GetNeed returns one need.
func (s *Server) GetNeed(ctx context.Context, req *needsv1.GetNeedRequest) (*needsv1.Need, error) {
	_, reach := caller(ctx)
	id, err := needID("need_id", req.GetNeedId())
	if err != nil {
		return nil, err
	}
	n, err := s.store.Get(ctx, id, reach)
	if err != nil {
		return nil, mapError(err, id)
	}
	return toProto(n), nil
}

// UpdateNeed changes the fields in the update mask.
func (s *Server) UpdateNeed(ctx context.Context, req *needsv1.UpdateNeedRequest) (*needsv1.Need, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	id, err := needID("need.need_id", req.GetNeed().GetNeedId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("need.etag", req.GetNeed().GetEtag())
	if err != nil {
		return nil, err
	}
	patch := fromProto(req.GetNeed(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	if len(paths) == 1 && paths[0] == "*" {
		return nil, violation("update_mask", validate.ReasonNotAllowed, validate.Message{ZH: "不支持 * ，请逐一列出要修改的字段", EN: "`*` is not accepted: list the fields to change"})
	}
	// Reassigning a need is a manager's decision; a sales rep keeps what it has.
	ownerAllowed := p.Has(authn.RoleAdmin) || p.Has(authn.RoleManager)
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "updated",
		Apply: func(n *need.Need, _ time.Time) error {
			if err := n.ApplyMask(patch, paths, ownerAllowed); err != nil {
				return err
			}
			n.Normalise()
			return n.Validate()
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return toProto(out), nil
}

// ChangeNeedStage moves a need along the pipeline.
func (s *Server) ChangeNeedStage(ctx context.Context, req *needsv1.ChangeNeedStageRequest) (*needsv1.Need, error) {
	p, reach := caller(ctx)
	id, version, to, err := stageRequest(req.GetNeedId(), req.GetEtag(), req.GetStage())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "stage_changed", Reason: reason,
		Apply: func(n *need.Need, now time.Time) error { return n.ChangeStage(to, reason, p.UserID, now) }}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return toProto(out), nil
}

// ReopenNeed moves a won or lost need back to an open stage.
func (s *Server) ReopenNeed(ctx context.Context, req *needsv1.ReopenNeedRequest) (*needsv1.Need, error) {
	p, reach := caller(ctx)
	id, version, to, err := stageRequest(req.GetNeedId(), req.GetEtag(), req.GetStage())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "reopened", Reason: reason,
		Apply: func(n *need.Need, now time.Time) error { return n.Reopen(to, reason, p.UserID, now) }}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return toProto(out), nil
}

// stageRequest checks the id, etag and target stage of a stage change or reopen.
func stageRequest(rawID, rawEtag string, stage needsv1.NeedStage) (string, int64, need.Stage, error) {
	var v validate.Collector
	id, err := needID("need_id", rawID)
	merge(&v, err)
	version, err := parseEtag("etag", rawEtag)
	merge(&v, err)
	to := stageFromProto[stage]
	switch {
	case stage == needsv1.NeedStage_NEED_STAGE_UNSPECIFIED:
		v.Add("stage", validate.ReasonRequired, validate.RequiredMessage("目标阶段", "Stage"))
	case to == "":
		v.Add("stage", validate.ReasonUnknownCode, validate.Message{ZH: "商机阶段无效", EN: "unknown stage"})
	}
	return id, version, to, v.Err()
}

// DeleteNeed soft-deletes a need.
func (s *Server) DeleteNeed(ctx context.Context, req *needsv1.DeleteNeedRequest) (*needsv1.Need, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	id, err := needID("need_id", req.GetNeedId())
	merge(&v, err)
	version, err := parseEtag("etag", req.GetEtag())
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	out, err := s.store.Update(ctx, store.UpdateInput{ID: id, Reach: reach, Version: version, Action: "deleted",
		AllowDeletedCustomer: true,
		Apply: func(n *need.Need, now time.Time) error {
			n.DeletedAt, n.DeletedBy = &now, p.UserID
			return nil
		}}, actorOf(p))
	if err != nil {
		return nil, mapError(err, id)
	}
	return toProto(out), nil
}

var (
	needIDPattern     = regexp.MustCompile(`^D[0-9]{11,20}$`)
	customerIDPattern = regexp.MustCompile(`^CUST-[0-9]{8}-[0-9]{4,12}$`)
)

// needID checks and normalises a need id from a request.
func needID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	switch {
	case id == "":
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("需求编号", "Need id"))
	case !needIDPattern.MatchString(id):
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "需求编号格式应为 DYYYYMMDDNNN", EN: "need id must look like DYYYYMMDDNNN"})
	}
	return id, nil
}

// customerID checks and normalises a customer id from a request.
func customerID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	switch {
	case id == "":
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("客户编号", "Customer id"))
	case !customerIDPattern.MatchString(id):
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "客户编号格式应为 CUST-YYYYMMDD-NNNN", EN: "customer id must look like CUST-YYYYMMDD-NNNN"})
	}
	return id, nil
}

// mapError turns domain and store errors into API errors; anything else passes through to the
// apierr interceptor (validation errors, or unknown errors that become INTERNAL).
func mapError(err error, id string) error {
	var tr *need.TransitionError
	switch {
	case errors.Is(err, need.ErrNotFound):
		return apierr.New(codes.NotFound, "NEED_NOT_FOUND", validate.Message{
			ZH: "需求 " + id + " 不存在或无权查看", EN: "need " + id + " not found"}).With("need_id", id)
	case errors.Is(err, need.ErrStaleEtag):
		return apierr.New(codes.Aborted, "ETAG_MISMATCH", validate.Message{
			ZH: "需求已被他人修改，请刷新后重试", EN: "the need was changed by someone else; reload it and try again"}).With("need_id", id)
	case errors.Is(err, need.ErrRequestUsed):
		return violation("request_id", "REQUEST_ID_REUSED", validate.Message{
			ZH: "request_id 已用于另一个不同的请求", EN: "request_id was already used for a different request"})
	case errors.Is(err, need.ErrCustomerDeleted):
		return apierr.New(codes.FailedPrecondition, "CUSTOMER_DELETED", validate.Message{
			ZH: "该需求所属客户已删除，不能再修改", EN: "the customer of this need is deleted; the need cannot be changed"}).With("need_id", id)
	case errors.Is(err, need.ErrNotClosed):
		return apierr.New(codes.FailedPrecondition, "NEED_NOT_CLOSED", validate.Message{
			ZH: "只有已成交或已流失的商机可以重新打开", EN: "only a won or lost need can be reopened"}).With("need_id", id)
	case errors.As(err, &tr):
		allowed := make([]string, len(tr.Allowed))
		for i, a := range tr.Allowed {
			allowed[i] = string(a)
		}
		return apierr.New(codes.FailedPrecondition, "ILLEGAL_STAGE_TRANSITION", tr.Message()).
			With("need_id", id).With("from", string(tr.From)).With("to", string(tr.To)).With("allowed", strings.Join(allowed, ","))
	case pgdb.IsUnavailable(err):
		return apierr.New(codes.Unavailable, "DATABASE_UNAVAILABLE", validate.Message{
			ZH: "数据库暂不可用，请稍后重试", EN: "the database is unavailable; try again later"})
	}
	return err
}

func violation(field, reason string, msg validate.Message) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: reason, Message: msg}}}
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
