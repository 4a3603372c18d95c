package server

import (
	"context"
	"strconv"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
	"github.com/crmsuite/crm/services/needs/internal/store"
)

// listQuery is what ListNeeds and ListCustomerNeeds have in common.
type listQuery struct {
	customerID             string
	size                   int32
	token, filter, orderBy string
}

// list returns one page of the needs the caller may see, within one customer when customerID is set.
func (s *Server) list(ctx context.Context, q listQuery) ([]*needsv1.Need, string, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	size, err := listquery.PageSize(q.size, 50, 200)
	merge(&v, err)
	conds, err := need.ParseFilter(q.filter)
	merge(&v, err)
	order, err := need.ParseOrder(q.orderBy)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if q.customerID != "" {
		conds = append(conds, need.Condition{Field: "customer_id", Op: "=", Value: q.customerID})
	}
	query := listquery.Fingerprint(p.UserID, reach.OwnerID, reach.TeamID, strconv.FormatBool(reach.DeletedCustomers), q.customerID, q.filter, q.orderBy)
	after, err := listquery.DecodeToken[store.Cursor](q.token, query)
	if err != nil {
		return nil, "", err
	}
	list, next, err := s.store.List(ctx, store.ListInput{Reach: reach, Conditions: conds, Order: order, PageSize: size, After: after})
	if err != nil {
		return nil, "", mapError(err, "")
	}
	out := make([]*needsv1.Need, 0, len(list))
	for _, n := range list {
		out = append(out, toProto(n))
	}
	return out, listquery.EncodeToken(next, query), nil
}

// ListNeeds lists the needs the caller may see.
func (s *Server) ListNeeds(ctx context.Context, req *needsv1.ListNeedsRequest) (*needsv1.ListNeedsResponse, error) {
	needs, next, err := s.list(ctx, listQuery{size: req.GetPageSize(), token: req.GetPageToken(), filter: req.GetFilter(), orderBy: req.GetOrderBy()})
	if err != nil {
		return nil, err
	}
	return &needsv1.ListNeedsResponse{Needs: needs, NextPageToken: next}, nil
}

// ListCustomerNeeds lists the needs of one customer the caller may see.
func (s *Server) ListCustomerNeeds(ctx context.Context, req *needsv1.ListCustomerNeedsRequest) (*needsv1.ListCustomerNeedsResponse, error) {
	p, _ := authn.FromContext(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	ref, err := s.visibleCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	// A deleted customer is gone for everyone but admins, and so is its list of needs.
	if ref.Deleted && !p.Has(authn.RoleAdmin) {
		return nil, customerNotFound(id)
	}
	needs, next, err := s.list(ctx, listQuery{customerID: id, size: req.GetPageSize(), token: req.GetPageToken(), filter: req.GetFilter(), orderBy: req.GetOrderBy()})
	if err != nil {
		return nil, err
	}
	return &needsv1.ListCustomerNeedsResponse{Needs: needs, NextPageToken: next}, nil
}

// ListNeedStageChanges lists the stage history of a need, oldest first.
func (s *Server) ListNeedStageChanges(ctx context.Context, req *needsv1.ListNeedStageChangesRequest) (*needsv1.ListNeedStageChangesResponse, error) {
	_, reach := caller(ctx)
	var v validate.Collector
	id, err := needID("need_id", req.GetNeedId())
	merge(&v, err)
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := listquery.Fingerprint(id)
	var afterID int64
	if req.GetPageToken() != "" {
		c, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
		if err != nil {
			return nil, err
		}
		if afterID, err = strconv.ParseInt(c.ID, 10, 64); err != nil {
			return nil, violation("page_token", validate.ReasonInvalidFormat, validate.Message{ZH: "page_token 无效", EN: "invalid page_token"})
		}
	}
	changes, next, err := s.store.StageChanges(ctx, id, reach, size, afterID)
	if err != nil {
		return nil, mapError(err, id)
	}
	resp := &needsv1.ListNeedStageChangesResponse{}
	if next != 0 {
		resp.NextPageToken = listquery.EncodeToken(&store.Cursor{ID: strconv.FormatInt(next, 10)}, query)
	}
	for _, c := range changes {
		resp.StageChanges = append(resp.StageChanges, &needsv1.NeedStageChange{NeedId: c.NeedID, FromStage: stageToProto[c.From],
			ToStage: stageToProto[c.To], Reason: c.Reason, Reopened: c.Reopened, ChangeTime: ts(c.ChangedAt), ChangedBy: c.ChangedBy})
	}
	return resp, nil
}
