package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/crmsuite/crm/pkg/validate"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

// pageToken is the opaque next_page_token: the keyset cursor plus a fingerprint of the query, so a
// token cannot be replayed against a different filter, order or caller.
type pageToken struct {
	Value string `json:"v"`
	ID    string `json:"i"`
	Query string `json:"q"`
}

func fingerprint(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

func encodeToken(c *store.Cursor, query string) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(pageToken{Value: c.Value, ID: c.ID, Query: query})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s, query string) (*store.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := violation("page_token", validate.ReasonInvalidFormat, validate.Message{
		ZH: "page_token 无效或与本次查询条件不符", EN: "page_token is invalid or belongs to a different query"})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.Query != query || t.ID == "" {
		return nil, bad
	}
	return &store.Cursor{Value: t.Value, ID: t.ID}, nil
}

// pageSize applies the default and checks the limit.
func pageSize(n int32, def, limit int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || int(n) > limit:
		return 0, violation("page_size", validate.ReasonOutOfRange, validate.Message{
			ZH: "page_size 须在 1 到 " + strconv.Itoa(limit) + " 之间", EN: "page_size must be between 1 and " + strconv.Itoa(limit)})
	}
	return int(n), nil
}

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
	size, err := pageSize(q.size, 50, 200)
	merge(&v, err)
	conds, err := feedback.ParseFilter(q.filter)
	merge(&v, err)
	order, err := feedback.ParseOrder(q.orderBy)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	query := fingerprint(q.principal, q.reach.OwnerID, q.reach.TeamID, q.customer, q.filter, q.orderBy)
	after, err := decodeToken(q.token, query)
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
	return out, encodeToken(next, query), nil
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
	size, err := pageSize(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	query := fingerprint(p.UserID, reach.OwnerID, reach.TeamID, "overdue")
	after, err := decodeToken(req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	now := s.store.Now()
	list, next, err := s.store.ListOverdue(ctx, store.OverdueInput{Reach: reach, Now: now, PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &feedbackv1.ListOverdueFeedbackResponse{NextPageToken: encodeToken(next, query)}
	for _, f := range list {
		resp.Feedback = append(resp.Feedback, toProto(f, now))
	}
	return resp, nil
}
