package server

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// unknownTags adds a violation for every tag term of e that names no live tag.
func unknownTags(v *validate.Collector, field string, e *tagging.Expr, resolved map[tagging.TagRef][]string) {
	for _, term := range e.Tags() {
		if len(resolved[term.Tag]) > 0 {
			continue
		}
		pe := &tagging.ParseError{Pos: term.Pos, Reason: validate.ReasonUnknownCode,
			ZH: "找不到标签 “" + term.Tag.Value + "”", EN: "no tag “" + term.Tag.Value + "”"}
		v.Add(field, pe.Reason, pe.Message())
	}
}

func refs(e *tagging.Expr) []tagging.TagRef {
	var out []tagging.TagRef
	for _, t := range e.Tags() {
		out = append(out, t.Tag)
	}
	return out
}

// expressionError reports a parse error as INVALID_EXPRESSION with its position in the metadata.
func expressionError(field string, pe *tagging.ParseError) error {
	e := apierr.New(codes.InvalidArgument, "INVALID_EXPRESSION", pe.Message()).With("position", strconv.Itoa(pe.Pos))
	e.Violations = []validate.Violation{{Field: field, Reason: pe.Reason, Message: pe.Message()}}
	return e
}

// SearchCustomersByTags returns the ids of the customers matching an expression.
func (s *Server) SearchCustomersByTags(ctx context.Context, req *taggingv1.SearchCustomersByTagsRequest) (*taggingv1.SearchCustomersByTagsResponse, error) {
	p, reach := caller(ctx)
	size, err := listquery.PageSize(req.GetPageSize(), 100, 1000)
	if err != nil {
		return nil, err
	}
	e, err := tagging.Parse(req.GetExpression())
	var pe *tagging.ParseError
	if errors.As(err, &pe) {
		return nil, expressionError("expression", pe)
	}
	if err != nil {
		return nil, err
	}
	resolved, err := s.store.ResolveTags(ctx, refs(e))
	if err != nil {
		return nil, mapError(err, about{})
	}
	// Unknown tags are most likely typos: say so rather than answer "nobody".
	var v validate.Collector
	unknownTags(&v, "expression", e, resolved)
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("search", p.UserID, reach.OwnerID, reach.TeamID, e.String())
	ids, next, err := s.search(ctx, e, resolved, reach, size, req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	return &taggingv1.SearchCustomersByTagsResponse{CustomerIds: ids, NextPageToken: next}, nil
}

// search runs one page of an expression for a caller's reach.
func (s *Server) search(ctx context.Context, e *tagging.Expr, resolved map[tagging.TagRef][]string, reach store.Reach,
	size int, token, query string) ([]string, string, error) {
	after, err := listquery.DecodeToken[string](token, query)
	if err != nil {
		return nil, "", err
	}
	in := store.SearchInput{Expr: e, Tags: resolved, Reach: reach, PageSize: size}
	if after != nil {
		in.After = *after
	}
	ids, next, err := s.store.Search(ctx, in)
	if err != nil {
		return nil, "", mapError(err, about{})
	}
	return ids, listquery.EncodeToken(listquery.NonZero(next), query), nil
}

// checkSegment normalises and validates a segment, including that its expression names live tags.
func (s *Server) checkSegment(ctx context.Context, g *tagging.Segment, path string) error {
	g.Normalise()
	e, err := g.Validate()
	var v validate.Collector
	merge(&v, prefix(path, err))
	if e != nil {
		resolved, err := s.store.ResolveTags(ctx, refs(e))
		if err != nil {
			return mapError(err, about{})
		}
		unknownTags(&v, path+"expression", e, resolved)
	}
	return v.Err()
}

// CreateSegment saves a segment.
func (s *Server) CreateSegment(ctx context.Context, req *taggingv1.CreateSegmentRequest) (*taggingv1.Segment, error) {
	p, _ := caller(ctx)
	var v validate.Collector
	if req.GetSegment() == nil {
		v.Add("segment", validate.ReasonRequired, validate.RequiredMessage("客户分群", "segment"))
		return nil, v.Err()
	}
	checkRequestID(&v, req.GetRequestId())
	g := segmentFromProto(req.GetSegment())
	merge(&v, s.checkSegment(ctx, g, "segment."))
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.CreateSegment(ctx, g, store.Request{ID: req.GetRequestId(), Hash: hash}, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{})
	}
	return segmentToProto(out), nil
}

// GetSegment returns one segment.
func (s *Server) GetSegment(ctx context.Context, req *taggingv1.GetSegmentRequest) (*taggingv1.Segment, error) {
	id, err := segmentID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, err
	}
	g, err := s.store.GetSegment(ctx, id)
	if err != nil {
		return nil, mapError(err, about{segment: id})
	}
	return segmentToProto(g), nil
}

// ListSegments lists the segments, newest first.
func (s *Server) ListSegments(ctx context.Context, req *taggingv1.ListSegmentsRequest) (*taggingv1.ListSegmentsResponse, error) {
	size, err := listquery.PageSize(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("segments")
	after, err := listquery.DecodeToken[store.SegmentCursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.ListSegments(ctx, size, after)
	if err != nil {
		return nil, mapError(err, about{})
	}
	resp := &taggingv1.ListSegmentsResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, g := range list {
		resp.Segments = append(resp.Segments, segmentToProto(g))
	}
	return resp, nil
}

// mayChange refuses a manager's change to a segment someone else created; admins change any.
func mayChange(p authn.Principal, g *tagging.Segment) error {
	if p.Has(authn.RoleAdmin) || g.CreatedBy == p.UserID {
		return nil
	}
	return tagging.ErrNotSegmentOwner
}

// UpdateSegment changes a segment's name, description or expression.
func (s *Server) UpdateSegment(ctx context.Context, req *taggingv1.UpdateSegmentRequest) (*taggingv1.Segment, error) {
	p, _ := caller(ctx)
	id, err := segmentID("segment.segment_id", req.GetSegment().GetSegmentId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("segment.etag", req.GetSegment().GetEtag())
	if err != nil {
		return nil, err
	}
	patch := segmentFromProto(req.GetSegment())
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	out, err := s.store.UpdateSegment(ctx, id, version, false, func(g *tagging.Segment) error {
		if err := mayChange(p, g); err != nil {
			return err
		}
		if err := g.ApplyMask(patch, paths); err != nil {
			return err
		}
		return s.checkSegment(ctx, g, "segment.")
	}, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{segment: id})
	}
	return segmentToProto(out), nil
}

// DeleteSegment soft-deletes a segment.
func (s *Server) DeleteSegment(ctx context.Context, req *taggingv1.DeleteSegmentRequest) (*taggingv1.Segment, error) {
	p, _ := caller(ctx)
	id, err := segmentID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	out, err := s.store.UpdateSegment(ctx, id, version, true, func(g *tagging.Segment) error { return mayChange(p, g) }, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{segment: id})
	}
	return segmentToProto(out), nil
}

// ListSegmentCustomers evaluates a segment for the caller.
func (s *Server) ListSegmentCustomers(ctx context.Context, req *taggingv1.ListSegmentCustomersRequest) (*taggingv1.ListSegmentCustomersResponse, error) {
	p, reach := caller(ctx)
	id, err := segmentID("segment_id", req.GetSegmentId())
	if err != nil {
		return nil, err
	}
	size, err := listquery.PageSize(req.GetPageSize(), 100, 1000)
	if err != nil {
		return nil, err
	}
	g, err := s.store.GetSegment(ctx, id)
	if err != nil {
		return nil, mapError(err, about{segment: id})
	}
	e, err := tagging.Parse(g.Expression)
	if err != nil {
		// Saved expressions were checked on save; one that no longer parses needs an admin's fix.
		s.log.ErrorContext(ctx, "saved segment does not parse", "segment_id", id, "error", err)
		return nil, apierr.New(codes.FailedPrecondition, "INVALID_SEGMENT_EXPRESSION", validate.Message{
			ZH: "该客户分群的表达式已失效，请修改后再试", EN: "the segment's expression is no longer valid; edit it and try again"}).With("segment_id", id)
	}
	// Tags deleted since the segment was saved simply match nobody.
	resolved, err := s.store.ResolveTags(ctx, refs(e))
	if err != nil {
		return nil, mapError(err, about{segment: id})
	}
	query := listquery.Fingerprint("segment", p.UserID, reach.OwnerID, reach.TeamID, id, e.String())
	ids, next, err := s.search(ctx, e, resolved, reach, size, req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	return &taggingv1.ListSegmentCustomersResponse{CustomerIds: ids, NextPageToken: next}, nil
}
