package server

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/validate"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

var categoryToProto = map[tagging.Category]taggingv1.TagCategory{
	tagging.CategoryLevel: taggingv1.TagCategory_TAG_CATEGORY_LEVEL, tagging.CategoryIndustry: taggingv1.TagCategory_TAG_CATEGORY_INDUSTRY,
	tagging.CategoryNeed: taggingv1.TagCategory_TAG_CATEGORY_NEED, tagging.CategoryBehavior: taggingv1.TagCategory_TAG_CATEGORY_BEHAVIOR,
	tagging.CategorySource: taggingv1.TagCategory_TAG_CATEGORY_SOURCE, tagging.CategoryCustom: taggingv1.TagCategory_TAG_CATEGORY_CUSTOM,
}

var categoryFromProto = func() map[taggingv1.TagCategory]tagging.Category {
	out := make(map[taggingv1.TagCategory]tagging.Category, len(categoryToProto))
	for k, v := range categoryToProto {
		out[v] = k
	}
	return out
}()

// category converts an API category; unspecified is "", an unknown value a violation.
func category(field string, c taggingv1.TagCategory, v *validate.Collector) tagging.Category {
	if c == taggingv1.TagCategory_TAG_CATEGORY_UNSPECIFIED {
		return ""
	}
	out, ok := categoryFromProto[c]
	if !ok {
		v.Add(field, validate.ReasonUnknownCode, validate.Message{ZH: "标签分类无效", EN: "unknown tag category"})
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsPtr(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func etag(version int64) string { return strconv.FormatInt(version, 10) }

// parseEtag accepts the etag as returned, optionally quoted or weak (`W/"3"`); empty means none.
func parseEtag(field, s string) (int64, error) {
	s = strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, violation(field, validate.ReasonInvalidFormat, validate.Message{ZH: "etag 无效，请使用读取时返回的值", EN: "invalid etag: send the value returned when it was read"})
	}
	return v, nil
}

func tagToProto(t *tagging.Tag) *taggingv1.Tag {
	return &taggingv1.Tag{
		TagId: t.ID, Category: categoryToProto[t.Category], Name: t.Name, Description: t.Description, Color: t.Color,
		LevelValue: string(t.LevelValue), CreateTime: ts(t.CreatedAt), CreatedBy: t.CreatedBy, UpdateTime: ts(t.UpdatedAt),
		UpdatedBy: t.UpdatedBy, DeleteTime: tsPtr(t.DeletedAt), DeletedBy: t.DeletedBy, Etag: etag(t.Version),
	}
}

// tagFromProto converts API input into a tag (without id, times or version).
func tagFromProto(p *taggingv1.Tag, v *validate.Collector) *tagging.Tag {
	return &tagging.Tag{
		Category: category("tag.category", p.GetCategory(), v), Name: p.GetName(), Description: p.GetDescription(),
		Color: p.GetColor(), LevelValue: tagging.Level(p.GetLevelValue()),
	}
}

func assignmentToProto(a *tagging.Assignment) *taggingv1.CustomerTag {
	return &taggingv1.CustomerTag{CustomerId: a.CustomerID, Tag: tagToProto(a.Tag), AssignTime: ts(a.AssignedAt), AssignedBy: a.AssignedBy}
}

func segmentToProto(g *tagging.Segment) *taggingv1.Segment {
	return &taggingv1.Segment{
		SegmentId: g.ID, Name: g.Name, Description: g.Description, Expression: g.Expression,
		CreateTime: ts(g.CreatedAt), CreatedBy: g.CreatedBy, UpdateTime: ts(g.UpdatedAt), UpdatedBy: g.UpdatedBy,
		DeleteTime: tsPtr(g.DeletedAt), DeletedBy: g.DeletedBy, Etag: etag(g.Version),
	}
}

func segmentFromProto(p *taggingv1.Segment) *tagging.Segment {
	return &tagging.Segment{Name: p.GetName(), Description: p.GetDescription(), Expression: p.GetExpression()}
}

var historyActions = map[string]taggingv1.TagHistoryAction{
	"assigned": taggingv1.TagHistoryAction_TAG_HISTORY_ACTION_ASSIGNED,
	"removed":  taggingv1.TagHistoryAction_TAG_HISTORY_ACTION_REMOVED,
}

func historyToProto(h *tagging.HistoryEntry) *taggingv1.TagHistoryEntry {
	return &taggingv1.TagHistoryEntry{
		Action: historyActions[h.Action], TagId: h.TagID, TagName: h.TagName, Category: categoryToProto[h.Category],
		Time: ts(h.At), Actor: &commonv1.Actor{UserId: h.ActorID, Role: h.ActorRole, TeamId: h.ActorTeam}, Reason: h.Reason,
	}
}
