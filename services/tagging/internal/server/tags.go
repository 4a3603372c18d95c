package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/store"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// CreateTag creates a tag definition.
func (s *Server) CreateTag(ctx context.Context, req *taggingv1.CreateTagRequest) (*taggingv1.Tag, error) {
	p, _ := caller(ctx)
	var v validate.Collector
	if req.GetTag() == nil {
		v.Add("tag", validate.ReasonRequired, validate.RequiredMessage("标签", "tag"))
		return nil, v.Err()
	}
	checkRequestID(&v, req.GetRequestId())
	t := tagFromProto(req.GetTag(), &v)
	t.Normalise()
	if !v.Has("tag.category") {
		merge(&v, prefix("tag.", t.Validate()))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := requestHash(req)
	if err != nil {
		return nil, err
	}
	out, err := s.store.CreateTag(ctx, t, store.Request{ID: req.GetRequestId(), Hash: hash}, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{})
	}
	return tagToProto(out), nil
}

// prefix puts a message path in front of the fields of a validation error (name → tag.name).
func prefix(path string, err error) error {
	var ve *validate.Error
	if !errors.As(err, &ve) {
		return err
	}
	out := &validate.Error{}
	for _, x := range ve.Violations {
		x.Field = path + x.Field
		out.Violations = append(out.Violations, x)
	}
	return out
}

// GetTag returns one tag definition.
func (s *Server) GetTag(ctx context.Context, req *taggingv1.GetTagRequest) (*taggingv1.Tag, error) {
	id, err := tagID("tag_id", req.GetTagId())
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetTag(ctx, id)
	if err != nil {
		return nil, mapError(err, about{tag: id})
	}
	return tagToProto(t), nil
}

// ListTags lists tag definitions.
func (s *Server) ListTags(ctx context.Context, req *taggingv1.ListTagsRequest) (*taggingv1.ListTagsResponse, error) {
	var v validate.Collector
	size, err := listquery.PageSize(req.GetPageSize(), 100, 200)
	merge(&v, err)
	cat := category("category", req.GetCategory(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("tags", string(cat), strconv.FormatBool(req.GetShowDeleted()))
	after, err := listquery.DecodeToken[store.TagCursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	list, next, err := s.store.ListTags(ctx, store.ListTagsInput{Category: cat, ShowDeleted: req.GetShowDeleted(), PageSize: size, After: after})
	if err != nil {
		return nil, mapError(err, about{})
	}
	resp := &taggingv1.ListTagsResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, t := range list {
		resp.Tags = append(resp.Tags, tagToProto(t))
	}
	return resp, nil
}

// UpdateTag changes the name, description or colour of a tag.
func (s *Server) UpdateTag(ctx context.Context, req *taggingv1.UpdateTagRequest) (*taggingv1.Tag, error) {
	p, _ := caller(ctx)
	id, err := tagID("tag.tag_id", req.GetTag().GetTagId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("tag.etag", req.GetTag().GetEtag())
	if err != nil {
		return nil, err
	}
	patch := &tagging.Tag{Name: req.GetTag().GetName(), Description: req.GetTag().GetDescription(), Color: req.GetTag().GetColor()}
	paths := validate.MaskPaths(req.GetUpdateMask().GetPaths())
	out, err := s.store.UpdateTag(ctx, id, version, func(t *tagging.Tag) error {
		if err := t.ApplyMask(patch, paths); err != nil {
			return err
		}
		t.Normalise()
		return prefix("tag.", t.Validate())
	}, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{tag: id})
	}
	return tagToProto(out), nil
}

// DeleteTag soft-deletes a tag and removes it from every customer.
func (s *Server) DeleteTag(ctx context.Context, req *taggingv1.DeleteTagRequest) (*taggingv1.Tag, error) {
	p, _ := caller(ctx)
	id, err := tagID("tag_id", req.GetTagId())
	if err != nil {
		return nil, err
	}
	version, err := parseEtag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	out, err := s.store.DeleteTag(ctx, id, version, actorOf(p))
	if err != nil {
		return nil, mapError(err, about{tag: id})
	}
	return tagToProto(out), nil
}
