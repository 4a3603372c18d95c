package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/validate"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
	"github.com/crmsuite/crm/services/needs/internal/store"
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
	size, err := pageSize(q.size, 50, 200)
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
	query := fingerprint(p.UserID, reach.OwnerID, reach.TeamID, strconv.FormatBool(reach.DeletedCustomers), q.customerID, q.filter, q.orderBy)
	after, err := decodeToken(q.token, query)
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
	return out, encodeToken(next, query), nil
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
	size, err := pageSize(req.GetPageSize(), 50, 200)
	merge(&v, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := fingerprint(id)
	var afterID int64
	if req.GetPageToken() != "" {
		c, err := decodeToken(req.GetPageToken(), query)
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
		resp.NextPageToken = encodeToken(&store.Cursor{ID: strconv.FormatInt(next, 10)}, query)
	}
	for _, c := range changes {
		resp.StageChanges = append(resp.StageChanges, &needsv1.NeedStageChange{NeedId: c.NeedID, FromStage: stageToProto[c.From],
			ToStage: stageToProto[c.To], Reason: c.Reason, Reopened: c.Reopened, ChangeTime: ts(c.ChangedAt), ChangedBy: c.ChangedBy})
	}
	return resp, nil
}
