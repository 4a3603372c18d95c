package server

import (
	"context"

	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

// listQuery is what ListFeedback and ListCustomerFeedback share.
type listQuery struct {
	size      int32
	token     string
	filter    string
	orderBy   string
	customer  string
	reach     store.Reach
	principal string
}

// list runs one page of a feedback list.
func (s *Server) list(ctx context.Context, q listQuery) ([]*feedbackv1.Feedback, string, error) {
	var v validate.Collector
	size, err := listquery.PageSize(q.size, 50, 200)
	merge(&v, err)
	conds, err := feedback.ParseFilter(q.filter)
	merge(&v, err)
	order, err := feedback.ParseOrder(q.orderBy)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	query := listquery.Fingerprint(q.principal, q.reach.OwnerID, q.reach.TeamID, q.customer, q.filter, q.orderBy)
	after, err := listquery.DecodeToken[store.Cursor](q.token, query)
	if err != nil {
		return nil, "", err
	}
	now := s.store.Now()
	list, next, err := s.store.List(ctx, store.ListInput{Reach: q.reach, CustomerID: q.customer, Conditions: conds,
		Order: order, PageSize: size, After: after, Now: now})
	if err != nil {
		return nil, "", mapError(err, "")
	}
	out := make([]*feedbackv1.Feedback, len(list))
	for i, f := range list {
		out[i] = toProto(f, now)
	}
	return out, listquery.EncodeToken(next, query), nil
}

// ListFeedback lists the feedback the caller may see.
func (s *Server) ListFeedback(ctx context.Context, req *feedbackv1.ListFeedbackRequest) (*feedbackv1.ListFeedbackResponse, error) {
	p, _, reach := caller(ctx)
	list, next, err := s.list(ctx, listQuery{size: req.GetPageSize(), token: req.GetPageToken(), filter: req.GetFilter(),
		orderBy: req.GetOrderBy(), reach: reach, principal: p.UserID})
	if err != nil {
		return nil, err
	}
	return &feedbackv1.ListFeedbackResponse{Feedback: list, NextPageToken: next}, nil
}

// ListCustomerFeedback lists one customer's feedback; a customer the caller may not see is NOT_FOUND.
func (s *Server) ListCustomerFeedback(ctx context.Context, req *feedbackv1.ListCustomerFeedbackRequest) (*feedbackv1.ListCustomerFeedbackResponse, error) {
	p, scope, reach := caller(ctx)
	id, err := customerIDOf("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	// The feedback of a deleted customer stays readable: it is part of that customer's history.
	if _, err := s.visibleCustomer(ctx, p, scope, id); err != nil {
		return nil, err
	}
	list, next, err := s.list(ctx, listQuery{size: req.GetPageSize(), token: req.GetPageToken(), filter: req.GetFilter(),
		orderBy: req.GetOrderBy(), customer: id, reach: reach, principal: p.UserID})
	if err != nil {
		return nil, err
	}
	return &feedbackv1.ListCustomerFeedbackResponse{Feedback: list, NextPageToken: next}, nil
}

// ListOverdueFeedback lists pending complaints past their deadline, the earliest deadline first.
func (s *Server) ListOverdueFeedback(ctx context.Context, req *feedbackv1.ListOverdueFeedbackRequest) (*feedbackv1.ListOverdueFeedbackResponse, error) {
	p, _, reach := caller(ctx)
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	query := listquery.Fingerprint(p.UserID, reach.OwnerID, reach.TeamID, "overdue")
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	now := s.store.Now()
	list, next, err := s.store.ListOverdue(ctx, store.OverdueInput{Reach: reach, Now: now, PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &feedbackv1.ListOverdueFeedbackResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, f := range list {
		resp.Feedback = append(resp.Feedback, toProto(f, now))
	}
	return resp, nil
}
