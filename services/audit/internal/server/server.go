// Package server is the audit service's gRPC face and its event intake: the AuditService
// handlers with their permission policy (authorise → validate → store → map), and the consumer
// handler that records every CRM change event in the chain.
//
// Handlers stay thin: chain rules live in internal/audit, SQL in internal/store. Errors are
// returned as *apierr.Error or *validate.Error values and turned into statuses by the apierr
// interceptor that grpcx installs. It must not import other services.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/validate"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	"github.com/crmsuite/crm/services/audit/internal/audit"
	"github.com/crmsuite/crm/services/audit/internal/store"
)

// Domain is the ErrorInfo domain of the audit service's errors.
const Domain = "audit.crm"

// Policy is who may call what (SPEC §3, §9): admins read and verify the whole log; other services
// (role system) read one entity's history, e.g. a customer's timeline; nobody else reads it.
// Handlers narrow further: a system caller must name the entity.
func Policy() authz.Policy {
	return authz.Policy{
		auditv1.AuditService_ListAuditEvents_FullMethodName: {
			authn.RoleAdmin:  authz.ScopeAll,
			authn.RoleSystem: authz.ScopeAll,
		},
		auditv1.AuditService_VerifyAuditChain_FullMethodName: {
			authn.RoleAdmin: authz.ScopeAll,
		},
	}
}

// Server implements auditv1.AuditServiceServer and the event intake.
type Server struct {
	auditv1.UnimplementedAuditServiceServer
	store *store.Store
	log   *slog.Logger
}

// New returns a Server on st, logging on log.
func New(st *store.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: st, log: log}
}

// maxFilterLen bounds the text filters, in characters; ids and type names are far shorter.
const maxFilterLen = 200

var errUnavailable = apierr.New(codes.Unavailable, "DATABASE_UNAVAILABLE",
	apierr.Message{ZH: "审计数据库暂时不可用，请稍后重试", EN: "the audit database is unavailable; please retry later"})

var errCorruptRecord = apierr.New(codes.DataLoss, "AUDIT_RECORD_UNREADABLE",
	apierr.Message{ZH: "审计记录无法读取，请联系管理员校验审计链", EN: "an audit record cannot be read; ask an administrator to verify the audit chain"})

// ListAuditEvents returns one page of records, newest first.
func (s *Server) ListAuditEvents(ctx context.Context, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	caller, _ := authn.FromContext(ctx)
	q, err := parseList(req, caller)
	if err != nil {
		return nil, err
	}
	// One more than the page tells whether another page follows.
	recs, err := s.store.List(ctx, q.filter, q.before, q.size+1)
	if err != nil {
		return nil, storeError(err)
	}
	resp := &auditv1.ListAuditEventsResponse{}
	if len(recs) > q.size {
		recs = recs[:q.size]
		resp.NextPageToken = audit.EncodePageToken(recs[len(recs)-1].Sequence, q.filter)
	}
	resp.AuditEvents = make([]*auditv1.AuditEvent, 0, len(recs))
	for _, r := range recs {
		ev, err := toProto(r)
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "audit record unreadable",
				slog.Int64("sequence", r.Sequence), slog.String("error", err.Error()))
			return nil, errCorruptRecord.With("sequence", fmt.Sprint(r.Sequence))
		}
		resp.AuditEvents = append(resp.AuditEvents, ev)
	}
	return resp, nil
}

// VerifyAuditChain recomputes the whole chain.
func (s *Server) VerifyAuditChain(ctx context.Context, _ *auditv1.VerifyAuditChainRequest) (*auditv1.VerifyAuditChainResponse, error) {
	v, err := s.store.Verify(ctx)
	if err != nil {
		return nil, storeError(err)
	}
	if !v.OK {
		// An operator must hear of this even if the admin who asked does not report it.
		s.log.LogAttrs(ctx, slog.LevelError, "audit chain broken",
			slog.Int64("first_broken_sequence", v.FirstBrokenSequence), slog.String("reason", v.Reason),
			slog.Int64("checked", v.Checked))
	}
	return &auditv1.VerifyAuditChainResponse{
		Ok:                  v.OK,
		Checked:             v.Checked,
		FirstBrokenSequence: v.FirstBrokenSequence,
		Reason:              v.Reason,
	}, nil
}

// listQuery is a validated ListAuditEvents request.
type listQuery struct {
	filter audit.Filter
	size   int
	before int64
}

// parseList validates req for caller, collecting every field violation.
func parseList(req *auditv1.ListAuditEventsRequest, caller authn.Principal) (listQuery, error) {
	var c validate.Collector
	q := listQuery{size: int(req.GetPageSize())}
	switch {
	case q.size < 0:
		c.Add("page_size", validate.ReasonOutOfRange, validate.Message{
			ZH: fmt.Sprintf("每页条数需在1到%d之间", audit.MaxPageSize),
			EN: fmt.Sprintf("page_size must be between 1 and %d", audit.MaxPageSize),
		})
	case q.size == 0:
		q.size = audit.DefaultPageSize
	case q.size > audit.MaxPageSize:
		// AIP-158: a larger size is coerced, not refused.
		q.size = audit.MaxPageSize
	}

	text := func(field, labelZH, value string) string {
		switch {
		case validate.RuneLen(value) > maxFilterLen:
			c.Add(field, validate.ReasonTooLong, validate.TooLongMessage(labelZH, field, maxFilterLen))
		case strings.ContainsRune(value, 0):
			c.Add(field, validate.ReasonInvalidFormat, validate.Message{
				ZH: labelZH + "含有非法字符", EN: field + " contains an invalid character",
			})
		}
		return value
	}
	q.filter.EntityID = text("entity_id", "实体ID", req.GetEntityId())
	q.filter.EntityType = text("entity_type", "实体类型", req.GetEntityType())
	q.filter.ActorID = text("actor_id", "操作人ID", req.GetActorId())
	q.filter.EventType = text("event_type", "事件类型", req.GetEventType())

	// Other services read one entity's history; the whole log is for administrators.
	if !caller.Has(authn.RoleAdmin) && q.filter.EntityID == "" {
		c.Add("entity_id", validate.ReasonRequired, validate.Message{
			ZH: "系统调用方必须指定实体ID", EN: "entity_id is required for system callers",
		})
	}

	when := func(field, labelZH string, ts *timestamppb.Timestamp) time.Time {
		if ts == nil {
			return time.Time{}
		}
		if err := ts.CheckValid(); err != nil {
			c.Add(field, validate.ReasonInvalidFormat, validate.Message{
				ZH: labelZH + "不是有效的时间", EN: field + " is not a valid timestamp",
			})
			return time.Time{}
		}
		return ts.AsTime()
	}
	q.filter.Start = when("start_time", "开始时间", req.GetStartTime())
	q.filter.End = when("end_time", "结束时间", req.GetEndTime())
	if !q.filter.Start.IsZero() && !q.filter.End.IsZero() && !q.filter.End.After(q.filter.Start) {
		c.Add("end_time", validate.ReasonOutOfRange, validate.Message{
			ZH: "结束时间必须晚于开始时间", EN: "end_time must be later than start_time",
		})
	}

	// A token is bound to the filters, so it can only be judged once they are valid.
	if c.Len() == 0 {
		before, err := audit.DecodePageToken(req.GetPageToken(), q.filter)
		if err != nil {
			c.Add("page_token", validate.ReasonInvalidFormat, validate.Message{
				ZH: "分页令牌无效，或与本次查询条件不一致",
				EN: "page_token is invalid or was issued for other filters",
			})
		}
		q.before = before
	}
	return q, c.Err()
}

// toProto maps a record to the API.
func toProto(r audit.Record) (*auditv1.AuditEvent, error) {
	changes, err := audit.DecodeChanges(r.Changes)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", r.Sequence, err)
	}
	return &auditv1.AuditEvent{
		EventId:    r.EventID,
		Sequence:   r.Sequence,
		EventType:  r.EventType,
		Source:     r.Source,
		EntityType: r.EntityType,
		EntityId:   r.EntityID,
		EventTime:  timestamppb.New(r.EventTime),
		Actor:      &commonv1.Actor{UserId: r.Actor.UserID, Role: r.Actor.Role, TeamId: r.Actor.TeamID},
		Changes:    changes,
		RecordTime: timestamppb.New(r.RecordTime),
		TraceId:    r.TraceID,
		Hash:       r.Hash,
		PrevHash:   r.PrevHash,
	}, nil
}

// storeError maps a store failure: UNAVAILABLE when the database cannot be reached, the error
// itself otherwise (apierr maps cancellation to CANCELLED and the rest to INTERNAL, logged once).
func storeError(err error) error {
	if pgdb.IsUnavailable(err) {
		return errUnavailable
	}
	return err
}
