package server

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	auditv1 "github.com/crmsuite/crm/proto/gen/go/crm/audit/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// ListCustomers lists the customers the caller may see.
func (s *Server) ListCustomers(ctx context.Context, req *customerv1.ListCustomersRequest) (*customerv1.ListCustomersResponse, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	merge(&v, err)
	conds, err := customer.ParseFilter(req.GetFilter())
	merge(&v, err)
	order, err := customer.ParseOrder(req.GetOrderBy())
	merge(&v, err)
	if req.GetShowDeleted() && !p.Has(authn.RoleAdmin) {
		v.Add("show_deleted", validate.ReasonNotAllowed, validate.Message{ZH: "只有管理员可以查看已删除客户", EN: "only admins may list deleted customers"})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := listquery.Fingerprint(p.UserID, reach.OwnerID, reach.TeamID, req.GetFilter(), req.GetOrderBy(), boolString(req.GetShowDeleted()))
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.List(ctx, store.ListInput{Reach: reach, Conditions: conds, Order: order, PageSize: size,
		After: after, ShowDeleted: req.GetShowDeleted()})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &customerv1.ListCustomersResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, c := range list {
		resp.Customers = append(resp.Customers, render(ctx, p, c))
	}
	return resp, nil
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// SearchCustomers finds customers by keyword.
func (s *Server) SearchCustomers(ctx context.Context, req *customerv1.SearchCustomersRequest) (*customerv1.SearchCustomersResponse, error) {
	p, reach := caller(ctx)
	var v validate.Collector
	q := strings.TrimSpace(req.GetQuery())
	switch n := validate.RuneLen(q); {
	case n == 0:
		v.Add("query", validate.ReasonRequired, validate.RequiredMessage("关键词", "Query"))
	case n < 2:
		v.Add("query", validate.ReasonOutOfRange, validate.Message{ZH: "关键词至少 2 个字符", EN: "query must be at least 2 characters"})
	case n > 50:
		v.Add("query", validate.ReasonTooLong, validate.TooLongMessage("关键词", "Query", 50))
	}
	size, err := listquery.PageSize(req.GetPageSize(), 20, 100)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	// A mobile typed with spaces or +86 is searched in its stored form.
	if m, ok := validate.Mobile(q); ok {
		q = m
	}
	query := listquery.Fingerprint(p.UserID, reach.OwnerID, reach.TeamID, q)
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.Search(ctx, store.SearchInput{Reach: reach, Query: q, PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, "")
	}
	resp := &customerv1.SearchCustomersResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, c := range list {
		resp.Customers = append(resp.Customers, render(ctx, p, c))
	}
	return resp, nil
}

// piiFields are masked in the history shown to callers without PII access.
var piiFields = map[string]func(string) string{
	"mobile": validate.MaskMobile, "contact_name": validate.MaskName,
	"landline": func(string) string { return "****" }, "email": func(string) string { return "***" },
	"address.street": func(string) string { return "***" },
}

// ListCustomerHistory returns a customer's change history from the audit service, for anyone who
// may see the customer. The audit service is asked with a system token: the visibility check is
// the customer's own, done here first.
func (s *Server) ListCustomerHistory(ctx context.Context, req *customerv1.ListCustomerHistoryRequest) (*customerv1.ListCustomerHistoryResponse, error) {
	p, reach := caller(ctx)
	id, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.Get(ctx, id, reach, p.Has(authn.RoleAdmin)); err != nil {
		return nil, mapError(err, id)
	}
	token, err := s.systemToken()
	if err != nil {
		return nil, err
	}
	resp, err := s.audit.ListAuditEvents(authn.WithBearer(ctx, token), &auditv1.ListAuditEventsRequest{
		EntityType: "customer", EntityId: id, PageSize: int32(size), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, historyError(err)
	}
	out := &customerv1.ListCustomerHistoryResponse{NextPageToken: resp.GetNextPageToken()}
	mask := !seesPII(p)
	for _, e := range resp.GetAuditEvents() {
		entry := &customerv1.HistoryEntry{EventId: e.GetEventId(), EventType: e.GetEventType(), Time: e.GetEventTime(),
			Actor: e.GetActor(), Changes: e.GetChanges()}
		if mask {
			for _, ch := range entry.Changes {
				if f, ok := piiFields[ch.GetField()]; ok {
					ch.Before, ch.After = maskValue(ch.GetBefore(), f), maskValue(ch.GetAfter(), f)
				}
			}
		}
		out.Entries = append(out.Entries, entry)
	}
	return out, nil
}

func maskValue(v *structpb.Value, f func(string) string) *structpb.Value {
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		return structpb.NewStringValue(f(s.StringValue))
	}
	return v
}

// historyError keeps the audit service's client errors (a bad page token) and reports anything
// else as the audit log being unavailable.
func historyError(err error) error {
	st, _ := status.FromError(err)
	if st.Code() == codes.InvalidArgument {
		return violation("page_token", validate.ReasonInvalidFormat, validate.Message{ZH: "page_token 无效", EN: "invalid page_token"})
	}
	return apierr.New(codes.Unavailable, "AUDIT_UNAVAILABLE", validate.Message{
		ZH: "操作日志服务暂不可用，请稍后重试", EN: "the audit log is unavailable; try again later"})
}
