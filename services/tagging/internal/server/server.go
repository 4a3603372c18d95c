// Package server implements the TaggingService gRPC API: it authorises each call, maps the API's
// messages to the tagging domain and back, calls the store and maps errors to API errors.
//
// It holds no business rules of its own (those live in internal/tagging) and no SQL
// (internal/store).
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/validate"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// Domain is the error domain of this service (google.rpc.ErrorInfo.domain).
const Domain = "tagging.crm"

const method = "/crm.tagging.v1.TaggingService/"

var (
	// everyone reads tag and segment definitions; they hold no customer data.
	everyone = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeAll,
		authn.RoleSales: authz.ScopeAll, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll,
		authn.RoleSystem: authz.ScopeAll}
	// customerReaders read customers' tags and evaluate expressions within their reach.
	customerReaders = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam,
		authn.RoleSales: authz.ScopeOwn, authn.RoleService: authz.ScopeAll, authn.RoleExecutive: authz.ScopeAll,
		authn.RoleSystem: authz.ScopeAll}
	// taggers assign and remove tags on the customers they may edit (SPEC §9: needs, tags).
	taggers        = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn}
	admins         = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll}
	segmentWriters = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam}
)

// Policy says which role may call which RPC, and over which customers (SPEC §9). Anything not
// listed is denied.
var Policy = authz.Policy{
	method + "CreateTag":             admins,
	method + "GetTag":                everyone,
	method + "ListTags":              everyone,
	method + "UpdateTag":             admins,
	method + "DeleteTag":             admins,
	method + "AssignTag":             taggers,
	method + "RemoveTag":             taggers,
	method + "ListCustomerTags":      customerReaders,
	method + "ListTagHistory":        customerReaders,
	method + "SearchCustomersByTags": customerReaders,
	method + "CreateSegment":         segmentWriters,
	method + "GetSegment":            everyone,
	method + "ListSegments":          everyone,
	method + "UpdateSegment":         segmentWriters,
	method + "DeleteSegment":         segmentWriters,
	method + "ListSegmentCustomers":  customerReaders,
}

// Server implements taggingv1.TaggingServiceServer.
type Server struct {
	taggingv1.UnimplementedTaggingServiceServer
	store *store.Store
	// refs knows the customers (owner, team, deleted, merged), asking the customer service about
	// ones it has not seen yet.
	refs *customerref.Projection
	log  *slog.Logger
}

// New returns a server.
func New(st *store.Store, refs *customerref.Projection, log *slog.Logger) *Server {
	return &Server{store: st, refs: refs, log: log}
}

// EventData renders the entities as the data of their events.
func EventData() store.EventData {
	return store.EventData{
		Tag:        func(t *tagging.Tag) proto.Message { return tagToProto(t) },
		Segment:    func(g *tagging.Segment) proto.Message { return segmentToProto(g) },
		Assignment: func(a *tagging.Assignment) proto.Message { return assignmentToProto(a) },
		Level: func(customerID string, l tagging.Level) proto.Message {
			return &taggingv1.CustomerLevel{CustomerId: customerID, Level: string(l)}
		},
	}
}

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

// seesDeleted reports whether the caller may read the tags of deleted customers: admins (who may
// restore them) and other services.
func seesDeleted(p authn.Principal) bool { return p.Has(authn.RoleAdmin) || p.Has(authn.RoleSystem) }

// knowCustomer makes sure the projection has the customer, asking the customer service once for
// one it has not heard of. Visibility and liveness are then checked in the store's queries.
func (s *Server) knowCustomer(ctx context.Context, id string) error {
	_, err := s.refs.Get(ctx, id)
	switch {
	case errors.Is(err, customerref.ErrNotFound):
		return tagging.ErrCustomerNotFound
	case err != nil:
		s.log.WarnContext(ctx, "customer lookup failed", "error", err)
		return apierr.New(codes.Unavailable, "CUSTOMER_SERVICE_UNAVAILABLE", validate.Message{
			ZH: "客户服务暂不可用，请稍后重试", EN: "the customer service is unavailable; try again later"})
	}
	return nil
}

var (
	tagIDPattern     = regexp.MustCompile(`^T[0-9]{11,}$`)
	segmentIDPattern = regexp.MustCompile(`^SEG[0-9]{11,}$`)
)

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

// tagID checks and normalises a tag id from a request.
func tagID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("标签编号", "Tag id"))
	}
	if !tagIDPattern.MatchString(id) || len(id) > 40 {
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "标签编号格式应为 TYYYYMMDDNNN", EN: "tag id must look like TYYYYMMDDNNN"})
	}
	return id, nil
}

// segmentID checks and normalises a segment id from a request.
func segmentID(field, id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return "", violation(field, validate.ReasonRequired, validate.RequiredMessage("分群编号", "Segment id"))
	}
	if !segmentIDPattern.MatchString(id) || len(id) > 40 {
		return "", violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "分群编号格式应为 SEGYYYYMMDDNNN", EN: "segment id must look like SEGYYYYMMDDNNN"})
	}
	return id, nil
}

func checkRequestID(v *validate.Collector, id string) {
	if validate.RuneLen(id) > 64 {
		v.Add("request_id", validate.ReasonTooLong, validate.TooLongMessage("request_id", "request_id", 64))
	}
}

// requestHash fingerprints a create request so a reused request id with other content is refused.
func requestHash(req proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
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

// about names the records a request was about, for error texts and metadata.
type about struct {
	customer, tag, segment string
}

// mapError turns domain and store errors into API errors; anything else passes through to the
// apierr interceptor (validation errors, or unknown errors that become INTERNAL).
func mapError(err error, r about) error {
	e := func(code codes.Code, reason, zh, en string) error {
		out := apierr.New(code, reason, validate.Message{ZH: zh, EN: en})
		for _, kv := range [][2]string{{"customer_id", r.customer}, {"tag_id", r.tag}, {"segment_id", r.segment}} {
			if kv[1] != "" {
				out = out.With(kv[0], kv[1])
			}
		}
		return out
	}
	switch {
	case errors.Is(err, tagging.ErrCustomerNotFound):
		return e(codes.NotFound, "CUSTOMER_NOT_FOUND", "客户 "+r.customer+" 不存在或无权查看", "customer "+r.customer+" not found")
	case errors.Is(err, tagging.ErrCustomerDeleted):
		return e(codes.FailedPrecondition, "CUSTOMER_DELETED", "客户 "+r.customer+" 已删除或已被合并，不能修改其标签",
			"customer "+r.customer+" is deleted or merged; its tags cannot change")
	case errors.Is(err, tagging.ErrTagNotFound):
		return e(codes.NotFound, "TAG_NOT_FOUND", "标签 "+r.tag+" 不存在或已删除", "tag "+r.tag+" not found")
	case errors.Is(err, tagging.ErrAssignmentNotFound):
		return e(codes.NotFound, "CUSTOMER_TAG_NOT_FOUND", "客户没有标签 "+r.tag, "the customer does not have tag "+r.tag)
	case errors.Is(err, tagging.ErrSegmentNotFound):
		return e(codes.NotFound, "SEGMENT_NOT_FOUND", "客户分群 "+r.segment+" 不存在或已删除", "segment "+r.segment+" not found")
	case errors.Is(err, tagging.ErrStaleEtag):
		return e(codes.Aborted, "ETAG_MISMATCH", "数据已被他人修改，请刷新后重试", "it was changed by someone else; reload it and try again")
	case errors.Is(err, tagging.ErrRequestUsed):
		return violation("request_id", "REQUEST_ID_REUSED", validate.Message{
			ZH: "request_id 已用于另一个不同的请求", EN: "request_id was already used for a different request"})
	case errors.Is(err, tagging.ErrTagNameTaken):
		return e(codes.AlreadyExists, "DUPLICATE_TAG_NAME", "该分类下已有同名标签", "a tag with this name already exists in this category")
	case errors.Is(err, tagging.ErrLevelTaken):
		return e(codes.AlreadyExists, "DUPLICATE_LEVEL", "已有代表该等级的客户等级标签", "a level tag for this level already exists")
	case errors.Is(err, tagging.ErrSegmentNameTaken):
		return e(codes.AlreadyExists, "DUPLICATE_SEGMENT_NAME", "已有同名客户分群", "a segment with this name already exists")
	case errors.Is(err, tagging.ErrTooManyTags):
		return e(codes.FailedPrecondition, "TOO_MANY_TAGS", "每个客户最多 100 个标签", "a customer can have at most 100 tags")
	case errors.Is(err, tagging.ErrNotSegmentOwner):
		return e(codes.PermissionDenied, "NOT_SEGMENT_OWNER", "部门负责人只能修改或删除自己创建的客户分群",
			"a manager may only change or delete the segments it created")
	case pgdb.IsUnavailable(err):
		return apierr.New(codes.Unavailable, "DATABASE_UNAVAILABLE", validate.Message{
			ZH: "数据库暂不可用，请稍后重试", EN: "the database is unavailable; try again later"})
	}
	return err
}
