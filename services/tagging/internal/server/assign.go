package server

import (
	"context"
	"github.com/crmsuite/crm/pkg/listquery"

	"google.golang.org/protobuf/types/known/emptypb"

	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
)

// customerAndTag checks the ids of a customer's tag request.
func customerAndTag(customer, tag string) (string, string, error) {
	cid, err := customerID("customer_id", customer)
	if err != nil {
		return "", "", err
	}
	tid, err := tagID("tag_id", tag)
	if err != nil {
		return "", "", err
	}
	return cid, tid, nil
}

// AssignTag assigns a tag to a customer.
func (s *Server) AssignTag(ctx context.Context, req *taggingv1.AssignTagRequest) (*taggingv1.CustomerTag, error) {
	p, reach := caller(ctx)
	cid, tid, err := customerAndTag(req.GetCustomerId(), req.GetTagId())
	if err != nil {
		return nil, err
	}
	if err := s.knowCustomer(ctx, cid); err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	a, err := s.store.Assign(ctx, cid, tid, reach, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{customer: cid, tag: tid})
	}
	return assignmentToProto(a), nil
}

// RemoveTag removes a tag from a customer.
func (s *Server) RemoveTag(ctx context.Context, req *taggingv1.RemoveTagRequest) (*emptypb.Empty, error) {
	p, reach := caller(ctx)
	cid, tid, err := customerAndTag(req.GetCustomerId(), req.GetTagId())
	if err != nil {
		return nil, err
	}
	if err := s.knowCustomer(ctx, cid); err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	if err := s.store.Remove(ctx, cid, tid, reach, actorOf(p)); err != nil {
		return nil, mapError(err, about{customer: cid, tag: tid})
	}
	return &emptypb.Empty{}, nil
}

// ListCustomerTags lists a customer's tags.
func (s *Server) ListCustomerTags(ctx context.Context, req *taggingv1.ListCustomerTagsRequest) (*taggingv1.ListCustomerTagsResponse, error) {
	p, reach := caller(ctx)
	cid, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	if err := s.knowCustomer(ctx, cid); err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	list, level, err := s.store.CustomerTags(ctx, cid, reach, seesDeleted(p))
	if err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	resp := &taggingv1.ListCustomerTagsResponse{Level: string(level)}
	for _, a := range list {
		resp.CustomerTags = append(resp.CustomerTags, assignmentToProto(a))
	}
	return resp, nil
}

// ListTagHistory lists a customer's tag history, newest first.
func (s *Server) ListTagHistory(ctx context.Context, req *taggingv1.ListTagHistoryRequest) (*taggingv1.ListTagHistoryResponse, error) {
	p, reach := caller(ctx)
	cid, err := customerID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("history", p.UserID, reach.OwnerID, reach.TeamID, cid)
	after, err := listquery.DecodeToken[int64](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	if err := s.knowCustomer(ctx, cid); err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	in := store.HistoryInput{CustomerID: cid, Reach: reach, IncludeDeleted: seesDeleted(p), PageSize: size}
	if after != nil {
		in.After = *after
	}
	list, next, err := s.store.History(ctx, in)
	if err != nil {
		return nil, mapError(err, about{customer: cid})
	}
	resp := &taggingv1.ListTagHistoryResponse{NextPageToken: listquery.EncodeToken(listquery.NonZero(next), query)}
	for _, h := range list {
		resp.Entries = append(resp.Entries, historyToProto(h))
	}
	return resp, nil
}
