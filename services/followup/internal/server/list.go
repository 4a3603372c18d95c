package server

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
	"github.com/crmsuite/crm/services/followup/internal/store"
)

// Paging limits.
const (
	defaultPageSize = 50
	maxPageSize     = 200
	// defaultWithinDays is how far ahead ListDueActions looks when within_days is not given.
	defaultWithinDays = 7
	maxWithinDays     = 365
)

// Filter fields per list.
var (
	customerListFields = []string{"method", "kind", "done", "owner_id", "contact_time"}
	ownerListFields    = []string{"method", "kind", "done", "customer_id", "contact_time"}
)

// reachKey identifies a reach in page-token fingerprints.
func reachKey(p authn.Principal, r store.Reach) []string {
	return []string{p.UserID, r.OwnerID, r.TeamID, strconv.FormatBool(r.DeletedCustomers)}
}

// ListFollowUps lists one customer's records, newest contact first.
func (s *Server) ListFollowUps(ctx context.Context, req *followupv1.ListFollowUpsRequest) (*followupv1.ListFollowUpsResponse, error) {
	p, scope, reach := caller(ctx)
	var v validate.Collector
	cid, err := customerID("customer_id", req.GetCustomerId())
	merge(&v, err)
	size, err := listquery.PageSize(req.GetPageSize(), defaultPageSize, maxPageSize)
	merge(&v, err)
	conds, err := followup.ParseFilter(req.GetFilter(), customerListFields...)
	merge(&v, err)
	order, err := followup.ParseOrder(req.GetOrderBy())
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	// An unknown or invisible customer is not found rather than an empty list, and so is a deleted
	// one for everyone but admins, as in the customer service.
	ref, err := s.customer(ctx, p, scope, cid)
	if err != nil {
		return nil, err
	}
	if ref.Deleted && !reach.DeletedCustomers {
		return nil, customerNotFound(cid)
	}
	query := listquery.Fingerprint(append(reachKey(p, reach), "customer", cid, req.GetFilter(), req.GetOrderBy())...)
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.List(ctx, store.ListInput{Reach: reach, CustomerID: cid, Conditions: conds, Order: order,
		PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &followupv1.ListFollowUpsResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, f := range list {
		resp.Followups = append(resp.Followups, render(p, f))
	}
	return resp, nil
}

// ownerFilter resolves the owner_id of the per-owner lists: a sales rep only ever lists its own
// records; the other roles list the owner asked for, or every owner within reach when none is.
func ownerFilter(p authn.Principal, scope authz.Scope, requested string) (string, error) {
	requested = strings.TrimSpace(requested)
	if scope != authz.ScopeOwn {
		return requested, nil
	}
	if requested != "" && requested != p.UserID {
		return "", apierr.New(codes.PermissionDenied, "OWNER_NOT_ALLOWED", validate.Message{
			ZH: "销售人员只能查看自己的联系记录", EN: "a sales rep can only list its own follow-ups"}).With("owner_id", requested)
	}
	return p.UserID, nil
}

// ListOwnerFollowUps lists records across customers by owner.
func (s *Server) ListOwnerFollowUps(ctx context.Context, req *followupv1.ListOwnerFollowUpsRequest) (*followupv1.ListOwnerFollowUpsResponse, error) {
	p, scope, reach := caller(ctx)
	owner, err := ownerFilter(p, scope, req.GetOwnerId())
	if err != nil {
		return nil, err
	}
	var v validate.Collector
	size, err := listquery.PageSize(req.GetPageSize(), defaultPageSize, maxPageSize)
	merge(&v, err)
	conds, err := followup.ParseFilter(req.GetFilter(), ownerListFields...)
	merge(&v, err)
	order, err := followup.ParseOrder(req.GetOrderBy())
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := listquery.Fingerprint(append(reachKey(p, reach), "owner", owner, req.GetFilter(), req.GetOrderBy())...)
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.List(ctx, store.ListInput{Reach: reach, OwnerID: owner, Conditions: conds, Order: order,
		PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &followupv1.ListOwnerFollowUpsResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, f := range list {
		resp.Followups = append(resp.Followups, render(p, f))
	}
	return resp, nil
}

// ListDueActions lists pending next actions due within N days, overdue ones included.
func (s *Server) ListDueActions(ctx context.Context, req *followupv1.ListDueActionsRequest) (*followupv1.ListDueActionsResponse, error) {
	days := defaultWithinDays
	if req.WithinDays != nil {
		days = int(req.GetWithinDays())
		if days < 0 || days > maxWithinDays {
			return nil, violation("within_days", validate.ReasonOutOfRange, validate.Message{
				ZH: "within_days 须在 0 到 " + strconv.Itoa(maxWithinDays) + " 之间", EN: "within_days must be between 0 and " + strconv.Itoa(maxWithinDays)})
		}
	}
	actions, next, err := s.dueActions(ctx, req.GetOwnerId(), days, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &followupv1.ListDueActionsResponse{DueActions: actions, NextPageToken: next}, nil
}

// ListOverdueActions lists pending next actions whose due date has passed.
func (s *Server) ListOverdueActions(ctx context.Context, req *followupv1.ListOverdueActionsRequest) (*followupv1.ListOverdueActionsResponse, error) {
	actions, next, err := s.dueActions(ctx, req.GetOwnerId(), -1, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &followupv1.ListOverdueActionsResponse{DueActions: actions, NextPageToken: next}, nil
}

// dueActions lists pending next actions due up to `days` days from today (China's calendar); -1
// means up to yesterday, i.e. overdue ones only.
func (s *Server) dueActions(ctx context.Context, ownerID string, days int, size32 int32, token string) ([]*followupv1.DueAction, string, error) {
	p, scope, reach := caller(ctx)
	owner, err := ownerFilter(p, scope, ownerID)
	if err != nil {
		return nil, "", err
	}
	size, err := listquery.PageSize(size32, defaultPageSize, maxPageSize)
	if err != nil {
		return nil, "", err
	}
	// The day is not part of the fingerprint: a token taken before midnight still works after it.
	query := listquery.Fingerprint(append(reachKey(p, reach), "due", owner, strconv.Itoa(days))...)
	after, err := listquery.DecodeToken[store.Cursor](token, query)
	if err != nil {
		return nil, "", err
	}
	today := followup.Today(s.now())
	list, next, err := s.store.ListDue(ctx, store.DueInput{Reach: reach, OwnerID: owner, Until: today.AddDays(days),
		PageSize: size, After: after})
	if err != nil {
		return nil, "", mapError(err, "")
	}
	out := make([]*followupv1.DueAction, 0, len(list))
	for _, f := range list {
		n := f.DaysOverdue(today)
		out = append(out, &followupv1.DueAction{Followup: render(p, f), Overdue: n > 0, DaysOverdue: int32(n)})
	}
	return out, listquery.EncodeToken(next, query), nil
}
